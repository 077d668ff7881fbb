package messages

import "errors"

// Errors that actors answer on reply channels; the web layer maps each to
// an HTTP status.
var (
	// ErrUnknownNode: no such probe or node (404).
	ErrUnknownNode = errors.New("unknown probe or node")
	// ErrWrongMode: the node does not take this kind of report (412).
	ErrWrongMode = errors.New("node mode does not accept this request")
	// ErrUnknownReplica: no such replica (404).
	ErrUnknownReplica = errors.New("unknown replica")
	// ErrTooManyReplicas: the node already has push_replicas_max replicas.
	ErrTooManyReplicas = errors.New("node has reached its replica limit")
	// ErrBusy: the actor's mailbox is full (503).
	ErrBusy = errors.New("server busy")
)

// ErrUnknownAnnouncement: no announcement with that id (404).
var ErrUnknownAnnouncement = errors.New("unknown announcement")
