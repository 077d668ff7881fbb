package state

import "github.com/vigil-go/vigil/messages"

// maxLoggedNodes bounds the node names one log record carries; the rest
// are only counted.
const maxLoggedNodes = 20

// logGeneral records a change of the general status (from before to the
// model's current one), naming the nodes behind it; msg is what caused it
// (nil for a reload).
func (a *Actor) logGeneral(model *Model, before messages.Status, msg messages.StateMessage) {
	after := model.Status()
	if after == before {
		return
	}
	nodes, more := model.causes(after, msg)
	attrs := []any{"from", before.String(), "to", after.String(), "nodes", nodes}
	if more > 0 {
		attrs = append(attrs, "nodes_more", more)
	}
	a.logger.Info("general status changed", attrs...)
}

// logCommand records a Manager API change that is about to be applied
// (command has already refused the ones it cannot apply).
func (a *Actor) logCommand(model *Model, msg messages.StateMessage) {
	switch m := msg.(type) {
	case messages.AnnouncementAdd:
		a.logger.Info("announcement published", "id", m.Announcement.ID, "title", m.Announcement.Title)
	case messages.AnnouncementRemove:
		a.logger.Info("announcement retracted", "id", m.ID, "title", model.announcementTitle(m.ID))
	case messages.IgnoreSet:
		if m.Until.IsZero() {
			a.logger.Info("reminder ignore window cleared")
		} else {
			a.logger.Info("reminders ignored", "until", m.Until)
		}
	}
}

// causes names, as "service/node", the nodes behind the general status to:
// when it is sick or dead, every node now at that status (in file order);
// for a return to healthy, the node of the message that brought it (none
// for a reload). At most maxLoggedNodes names; more counts the others.
func (m *Model) causes(to messages.Status, msg messages.StateMessage) (nodes []string, more int) {
	nodes = []string{}
	if to == messages.Healthy {
		if key, ok := messageKey(msg); ok {
			nodes = append(nodes, key.Probe+"/"+key.Node)
		}
		return nodes, 0
	}
	for _, p := range m.probes {
		for _, n := range p.nodes {
			if n.status != to {
				continue
			}
			if len(nodes) == maxLoggedNodes {
				more++
				continue
			}
			nodes = append(nodes, p.id+"/"+n.id)
		}
	}
	return nodes, more
}

// messageKey returns the replica a status message is about.
func messageKey(msg messages.StateMessage) (messages.ReplicaKey, bool) {
	switch m := msg.(type) {
	case messages.ReplicaProbed:
		return m.Key, true
	case messages.ReplicaUpdated:
		return m.Key, true
	case messages.ReplicaRemoved:
		return m.Key, true
	}
	return messages.ReplicaKey{}, false
}

// announcementTitle returns the title of the announcement id ("" when
// there is none).
func (m *Model) announcementTitle(id string) string {
	if i := m.announcementIndex(id); i >= 0 {
		return m.announcements[i].Title
	}
	return ""
}
