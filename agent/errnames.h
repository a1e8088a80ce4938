/* errnames.h - symbolic errno names ("ETIMEDOUT"), as in errno(3). */
#ifndef TCPLAB_ERRNAMES_H
#define TCPLAB_ERRNAMES_H

/* The symbolic name of err, or "E<number>" (in buf) when it is not in the table. */
const char *errno_name(int err, char *buf, unsigned buflen);

#endif
