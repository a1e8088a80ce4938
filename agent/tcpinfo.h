/* tcpinfo.h - struct tcp_info (tcp(7) TCP_INFO) as JSON. */
#ifndef TCPLAB_TCPINFO_H
#define TCPLAB_TCPINFO_H

#include "json.h"

/* Append "info": {...} for the socket. Returns 0, or -1 with errno (nothing appended). */
int put_tcp_info(int fd, struct jbuf *b);

#endif
