/* The HTTP server (libmicrohttpd) of brisk serve. */
#ifndef BRISK_SERVER_HTTP_H
#define BRISK_SERVER_HTTP_H

#include "server/server.h"

struct MHD_Daemon;
/* Listen on cfg.host:cfg.port (0 = any free port; the bound one goes to
 * *port_out). NULL with err on failure. */
struct MHD_Daemon *http_start(server *s, int *port_out, char *err, size_t err_size);
/* Stop accepting connections (the ones open keep being served). */
void http_quiesce(struct MHD_Daemon *d);
/* Wait (up to wait_s) for requests whose responses are being sent, then
 * close every connection and join their threads. */
void http_stop(server *s, struct MHD_Daemon *d, double wait_s);

#endif
