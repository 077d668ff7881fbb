package supervisors

import (
	"slices"
	"strconv"

	"github.com/vigil-go/vigil/actors/notifier/providers"
	"github.com/vigil-go/vigil/config"
)

// maxLoggedChanges bounds each list of a reload's summary record; the
// rest is counted in a last "+N more" entry.
const maxLoggedChanges = 20

// reloadChanges is what a reload changes, for its summary record.
type reloadChanges struct {
	// servicesAdded and servicesRemoved are service ids.
	servicesAdded, servicesRemoved []string
	// nodesChanged are "service/node" ids of the nodes added, removed or
	// redefined in services that exist before and after.
	nodesChanged []string
	// notifiersChanged are the notifier kinds started, stopped or rebuilt.
	notifiersChanged []string
	// tablesChanged names the other tables that differ (metrics, branding…).
	tablesChanged []string
}

// attrs renders the changes as log attributes; empty lists are kept, so
// that the record says what did not change too.
func (c reloadChanges) attrs() []any {
	return []any{
		"services_added", capped(c.servicesAdded),
		"services_removed", capped(c.servicesRemoved),
		"nodes_changed", capped(c.nodesChanged),
		"notifiers_changed", capped(c.notifiersChanged),
		"tables_changed", capped(c.tablesChanged),
	}
}

func capped(list []string) []string {
	if list == nil {
		return []string{}
	}
	if len(list) <= maxLoggedChanges {
		return list
	}
	return append(slices.Clip(list[:maxLoggedChanges]), "+"+strconv.Itoa(len(list)-maxLoggedChanges)+" more")
}

// configChanges compares the running configuration with the next one;
// built are the notifiers of next, compared with the running notifier
// actors the way applyNotifiers does.
func (t *Tree) configChanges(running, next *config.Config, built []providers.Built) reloadChanges {
	var c reloadChanges
	before := map[string]config.Service{}
	for _, s := range running.Probe.Services {
		before[s.ID] = s
	}
	after := map[string]bool{}
	for _, s := range next.Probe.Services {
		after[s.ID] = true
		old, ok := before[s.ID]
		if !ok {
			c.servicesAdded = append(c.servicesAdded, s.ID)
			continue
		}
		c.nodesChanged = append(c.nodesChanged, nodesChanged(old, s)...)
	}
	for _, s := range running.Probe.Services {
		if !after[s.ID] {
			c.servicesRemoved = append(c.servicesRemoved, s.ID)
		}
	}

	kept := map[string]bool{}
	for _, b := range built {
		kind := b.Provider.Kind()
		kept[kind] = true
		if u, ok := t.notes[kind]; !ok || u.fp != notifierFP(next, kind) {
			c.notifiersChanged = append(c.notifiersChanged, kind)
		}
	}
	for kind := range t.notes {
		if !kept[kind] {
			c.notifiersChanged = append(c.notifiersChanged, kind)
		}
	}
	slices.Sort(c.notifiersChanged)

	policy := func(n *config.Notify) any {
		if n == nil {
			return nil
		}
		return []any{n.StartupNotification, n.ReminderInterval, n.ReminderBackoffFunction, n.ReminderBackoffLimit, n.ReminderEscalate}
	}
	for _, table := range []struct {
		name    string
		was, is any
	}{
		{"server", running.Server, next.Server},
		{"assets", running.Assets, next.Assets},
		{"branding", running.Branding, next.Branding},
		{"metrics", running.Metrics, next.Metrics},
		{"plugins", running.Plugins, next.Plugins},
		{"notify", policy(running.Notify), policy(next.Notify)},
		{"storage", running.Storage, next.Storage},
	} {
		if fingerprint(table.was) != fingerprint(table.is) {
			c.tablesChanged = append(c.tablesChanged, table.name)
		}
	}
	return c
}

// nodesChanged lists the nodes of one service that were added, removed or
// redefined, as "service/node", in the next file's order then the removed
// ones.
func nodesChanged(old, next config.Service) []string {
	before := map[string]config.Node{}
	for _, n := range old.Nodes {
		before[n.ID] = n
	}
	var out []string
	seen := map[string]bool{}
	for _, n := range next.Nodes {
		seen[n.ID] = true
		if o, ok := before[n.ID]; !ok || fingerprint(o) != fingerprint(n) {
			out = append(out, next.ID+"/"+n.ID)
		}
	}
	for _, n := range old.Nodes {
		if !seen[n.ID] {
			out = append(out, next.ID+"/"+n.ID)
		}
	}
	return out
}
