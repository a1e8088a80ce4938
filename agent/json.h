/* json.h - the agent's JSON: a reader for one command line and a writer for
 * one event line. Commands are small flat objects (with a nested "opts"
 * object and arrays of strings), so the reader builds a tiny tree.
 */
#ifndef TCPLAB_JSON_H
#define TCPLAB_JSON_H

#include <stddef.h>

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jval {
	enum jtype type;
	int boolean;         /* J_BOOL */
	double num;          /* J_NUM */
	char *str;           /* J_STR: decoded bytes, NUL-terminated (may hold NULs) */
	size_t len;          /* J_STR: byte length */
	struct jval *items;  /* J_ARR, J_OBJ: values */
	char **keys;         /* J_OBJ: keys, parallel to items */
	size_t n;            /* J_ARR, J_OBJ: number of items */
};

/* Parse exactly one JSON value filling all of text[0..len). Returns 0, or -1
 * with a message in err. On success the caller frees with json_free(). */
int json_parse(const char *text, size_t len, struct jval *out, char *err, size_t errlen);
void json_free(struct jval *v);
/* Member of an object by key, or NULL. */
const struct jval *json_get(const struct jval *obj, const char *key);
/* Name of a type for messages ("string", "number", ...). */
const char *json_type_name(enum jtype t);

/* A growing output buffer. Separators are implicit: a value or key written
 * after another one in the same object or array gets its comma. */
struct jbuf {
	char *p;
	size_t len, cap;
	void *meta;          /* events.c: the event's name/type/id/t while it is built (freed by jb_free) */
};

void jb_init(struct jbuf *b);
void jb_free(struct jbuf *b);
void jb_obj_begin(struct jbuf *b);
void jb_obj_end(struct jbuf *b);
void jb_arr_begin(struct jbuf *b);
void jb_arr_end(struct jbuf *b);
void jb_key(struct jbuf *b, const char *key);
void jb_str(struct jbuf *b, const char *s);
void jb_strn(struct jbuf *b, const char *s, size_t n);
void jb_int(struct jbuf *b, long long v);
void jb_uint(struct jbuf *b, unsigned long long v);
void jb_bool(struct jbuf *b, int v);
void jb_fixed3(struct jbuf *b, double v);
/* Already-serialised JSON (a remembered "id"). */
void jb_raw(struct jbuf *b, const char *json);
/* Append without a separator (the final newline). */
void jb_append(struct jbuf *b, const char *s, size_t n);

#endif
