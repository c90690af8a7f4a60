/*
 * tools/control.h - the control port (default 127.0.0.1:5560): the CA files
 * and install page, and Prometheus metrics. The session API and web UI of
 * the control plane will be served here too.
 */
#ifndef RINGCAP_CONTROL_H
#define RINGCAP_CONTROL_H

#include <sys/socket.h>

struct eng;
struct eng_onboard_ca;
struct rc_capture;
struct rc_control;

/* Binds addr (one clear sentence in err on failure) and serves on a thread
 * of its own; ca may be NULL (interception off: the CA paths are 404). */
int rc_control_start(struct rc_control **out, const struct sockaddr_storage *addr,
		     socklen_t addr_len, const struct eng_onboard_ca *ca,
		     char *err, size_t err_len);
/* The engine whose counters /metrics shows (set once it runs). */
void rc_control_set_engine(struct rc_control *c, struct eng *e);
/* The capture sink whose counters /metrics shows (ringcap_capture_*);
 * it must outlive the control thread (rc_control_stop first). */
void rc_control_set_capture(struct rc_control *c, struct rc_capture *cap);
void rc_control_stop(struct rc_control *c);

#endif
