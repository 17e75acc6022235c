// Package expose is reach's main job as a library: a Session finds the
// router, serves the framed echo server (or looks for the user's own
// program), maps the port, verifies it with a probe round trip, hosts
// while renewing the mapping, and removes it on Close. It never prints:
// everything it does and decides reaches the caller as Events, and every
// verdict comes from probe.Decide on the session's probe.Evidence.
package expose
