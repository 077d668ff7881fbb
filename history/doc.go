// Package history records the uptime history of every node, service and
// of the whole page, and summarises it for the status page.
//
// A Recorder is a pure value owned by one caller (the state actor): it does
// no I/O, starts no goroutines and never reads the clock; every method
// takes the time it happens at.
//
// What it owns: per subject (the page, each service, each node), the time
// spent healthy, sick and dead in each hour of the last 7 days and each day
// of the last 90 days (in memory; the store keeps days for 400 days); per
// poll node, latency histograms of the open hour and day and the p50, p95
// and maximum of the last 24 hours; per service its incidents of the last
// 90 days; and the announcement log. Time without data (the server was
// down, a node was not probed yet) is never recorded: it is whatever part
// of an hour or day has elapsed but was not accounted. Hours and days are
// UTC; accounting splits at their boundaries to the millisecond.
//
// What it receives: the layout (New, Reconfigure); each node's status
// whenever it changes (Node), from which the service status (the worst of
// its nodes with data) and the page status (the worst of the services with
// data) follow; poll latencies (Latency); announcements published and
// retracted (Announced, Retracted, SyncAnnouncements).
//
// What it produces: records for the store (Flush, Records), as opaque
// storage.HistoryRecord values under keys that sort by time, so that
// records past retention are deleted by key range (see keys.go and
// codec.go for the layout and the versioned varint encoding); and an
// immutable messages.HistoryView (View).
//
// Incidents: a service that is not healthy (sick or dead, with data)
// opens an incident, which records its worst status and every node that
// was not healthy during it, and ends when the service is next seen
// healthy (no data does not end it; an ongoing incident survives a
// restart). An incident that ended less than Layout.Interval before the
// service failed again goes on instead of a new one starting.
//
// Restarts: New rebuilds the recorder from the records its predecessor's
// Flush calls produced; the view is the same, with the time from the last
// Flush to the restart as no data. Each Flush writes, for every subject
// with data, its status and since when in its record of the current hour,
// so a Flush every few seconds loses at most those seconds.
package history
