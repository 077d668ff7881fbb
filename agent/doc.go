// Package agent is Vigil Local as a mode of the vigil binary (`vigil
// local`): the agent that runs inside a private network, probes what only
// it can reach and reports each result to the status page's Reporter API,
// as the original Vigil Local daemon does, from the same configuration
// file.
//
// The file format is the original agent's ([server] log_level, [report]
// endpoint and token, [metrics] interval and poll settings, [[probe.service]]
// and [[probe.service.node]] with poll replicas or scripts), decoded by the
// server's loader (config.Decode): the same ${NAME} interpolation, unknown-key
// warnings and problem wording. New here: [server] inet, which serves
// /healthz and /metrics.
//
// Probing reuses the server's probers (actors/probe) and replica actors
// (actors/replica), one supervised actor per replica under a suture tree
// (see Tree). Their results go to the Reporter actor, which POSTs each to
// <endpoint>/reporter/<service>/<node>/ with Basic auth (empty user, the
// token) and the body {"replica": ID, "health": STATUS, "interval":
// SECONDS}: ID is the replica URL as written for poll replicas and the
// script's index ("0", "1", …) for scripts.
package agent
