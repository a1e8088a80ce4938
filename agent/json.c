/* json.c - see json.h. RFC 8259 grammar, with two limits that suit commands:
 * nesting depth and (by the caller) line length. */
#define _GNU_SOURCE
#include "json.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define JSON_MAX_DEPTH 8

struct parser {
	const char *s, *end;
	char *err;
	size_t errlen;
	int depth;
};

static int parse_value(struct parser *p, struct jval *v);

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, at most U+10FFFF), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	if (n >= 1 && s[0] < 0x80)
		return 1;
	if (n >= 2 && s[0] >= 0xC2 && s[0] <= 0xDF && (s[1] & 0xC0) == 0x80)
		return 2;
	if (n >= 3 && s[0] >= 0xE0 && s[0] <= 0xEF && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80) {
		if ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] > 0x9F))
			return 0;
		return 3;
	}
	if (n >= 4 && s[0] >= 0xF0 && s[0] <= 0xF4 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80 &&
	    (s[3] & 0xC0) == 0x80) {
		if ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] > 0x8F))
			return 0;
		return 4;
	}
	return 0;
}

static int fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->err, p->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static void skip_ws(struct parser *p)
{
	while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
		p->s++;
}

static int hex4(struct parser *p, unsigned *out)
{
	unsigned v = 0;
	if (p->end - p->s < 4)
		return fail(p, "truncated \\u escape");
	for (int i = 0; i < 4; i++) {
		char c = p->s[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return fail(p, "bad hex digit in \\u escape");
	}
	p->s += 4;
	*out = v;
	return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* \uXXXX, with a surrogate pair when the first unit is a high surrogate. */
static int parse_unicode_escape(struct parser *p, unsigned *cp)
{
	unsigned hi, lo;
	if (hex4(p, &hi) < 0)
		return -1;
	if (hi >= 0xDC00 && hi <= 0xDFFF)
		return fail(p, "lone low surrogate in \\u escape");
	if (hi < 0xD800 || hi > 0xDBFF) {
		*cp = hi;
		return 0;
	}
	if (p->end - p->s < 2 || p->s[0] != '\\' || p->s[1] != 'u')
		return fail(p, "high surrogate without its low surrogate");
	p->s += 2;
	if (hex4(p, &lo) < 0)
		return -1;
	if (lo < 0xDC00 || lo > 0xDFFF)
		return fail(p, "bad low surrogate in \\u escape");
	*cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
	return 0;
}

/* A string; p->s is on the opening quote. The decoded form is never longer
 * than the source, so one allocation of the source span suffices. */
static int parse_string(struct parser *p, char **out, size_t *outlen)
{
	const char *start = ++p->s;
	const char *q = start;
	while (q < p->end && *q != '"') {
		if (*q == '\\')
			q++;
		q++;
	}
	if (q >= p->end)
		return fail(p, "unterminated string");
	char *buf = xmalloc((size_t)(q - start) + 1);
	size_t n = 0;
	while (*p->s != '"') {
		unsigned char c = (unsigned char)*p->s++;
		if (c < 0x20) {
			free(buf);
			return fail(p, "control character in string");
		}
		if (c >= 0x80) {
			size_t k = utf8_len((const unsigned char *)p->s - 1, (size_t)(p->end - p->s) + 1);
			if (k == 0) {
				free(buf);
				return fail(p, "invalid UTF-8 in string");
			}
			memcpy(buf + n, p->s - 1, k);
			n += k;
			p->s += k - 1;
			continue;
		}
		if (c != '\\') {
			buf[n++] = (char)c;
			continue;
		}
		char e = *p->s++;
		unsigned cp = 0;
		switch (e) {
		case '"': buf[n++] = '"'; break;
		case '\\': buf[n++] = '\\'; break;
		case '/': buf[n++] = '/'; break;
		case 'b': buf[n++] = '\b'; break;
		case 'f': buf[n++] = '\f'; break;
		case 'n': buf[n++] = '\n'; break;
		case 'r': buf[n++] = '\r'; break;
		case 't': buf[n++] = '\t'; break;
		case 'u':
			if (parse_unicode_escape(p, &cp) < 0) {
				free(buf);
				return -1;
			}
			n += put_utf8(buf + n, cp);
			break;
		default:
			free(buf);
			return fail(p, "bad escape \\%c in string", e);
		}
	}
	p->s++; /* closing quote */
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return 0;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int parse_number(struct parser *p, double *out)
{
	const char *q = p->s;
	if (q < p->end && *q == '-')
		q++;
	if (q >= p->end || !is_digit(*q))
		return fail(p, "bad number");
	if (*q == '0')
		q++;
	else
		while (q < p->end && is_digit(*q))
			q++;
	if (q < p->end && *q == '.') {
		q++;
		if (q >= p->end || !is_digit(*q))
			return fail(p, "bad number");
		while (q < p->end && is_digit(*q))
			q++;
	}
	if (q < p->end && (*q == 'e' || *q == 'E')) {
		q++;
		if (q < p->end && (*q == '+' || *q == '-'))
			q++;
		if (q >= p->end || !is_digit(*q))
			return fail(p, "bad number");
		while (q < p->end && is_digit(*q))
			q++;
	}
	char tmp[64];
	size_t n = (size_t)(q - p->s);
	if (n >= sizeof tmp)
		return fail(p, "number too long");
	memcpy(tmp, p->s, n);
	tmp[n] = '\0';
	*out = strtod(tmp, NULL);
	if (!isfinite(*out))
		return fail(p, "number out of range");
	p->s = q;
	return 0;
}

static int parse_literal(struct parser *p, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(p->end - p->s) < n || memcmp(p->s, word, n) != 0)
		return fail(p, "unexpected character '%c'", *p->s);
	p->s += n;
	return 0;
}

static void grow_items(struct jval *v, size_t *cap, int with_keys)
{
	if (v->n < *cap)
		return;
	*cap = *cap ? *cap * 2 : 4;
	v->items = xrealloc(v->items, *cap * sizeof *v->items);
	if (with_keys)
		v->keys = xrealloc(v->keys, *cap * sizeof *v->keys);
}

static int parse_array(struct parser *p, struct jval *v)
{
	size_t cap = 0;
	v->type = J_ARR;
	p->s++;
	skip_ws(p);
	if (p->s < p->end && *p->s == ']') {
		p->s++;
		return 0;
	}
	for (;;) {
		grow_items(v, &cap, 0);
		if (parse_value(p, &v->items[v->n]) < 0) {
			json_free(&v->items[v->n]); /* a partial child is not counted in n */
			return -1;
		}
		v->n++;
		skip_ws(p);
		if (p->s < p->end && *p->s == ',') {
			p->s++;
			continue;
		}
		if (p->s < p->end && *p->s == ']') {
			p->s++;
			return 0;
		}
		return fail(p, "expected ',' or ']' in array");
	}
}

static int parse_object(struct parser *p, struct jval *v)
{
	size_t cap = 0;
	v->type = J_OBJ;
	p->s++;
	skip_ws(p);
	if (p->s < p->end && *p->s == '}') {
		p->s++;
		return 0;
	}
	for (;;) {
		char *key;
		size_t keylen;
		skip_ws(p);
		if (p->s >= p->end || *p->s != '"')
			return fail(p, "expected a string key in object");
		if (parse_string(p, &key, &keylen) < 0)
			return -1;
		if (strlen(key) != keylen || json_get(v, key) != NULL) {
			fail(p, "duplicate or invalid key \"%s\"", key);
			free(key);
			return -1;
		}
		skip_ws(p);
		if (p->s >= p->end || *p->s != ':') {
			free(key);
			return fail(p, "expected ':' after key");
		}
		p->s++;
		grow_items(v, &cap, 1);
		v->keys[v->n] = key;
		if (parse_value(p, &v->items[v->n]) < 0) {
			json_free(&v->items[v->n]); /* a partial child is not counted in n */
			free(key);
			return -1;
		}
		v->n++;
		skip_ws(p);
		if (p->s < p->end && *p->s == ',') {
			p->s++;
			continue;
		}
		if (p->s < p->end && *p->s == '}') {
			p->s++;
			return 0;
		}
		return fail(p, "expected ',' or '}' in object");
	}
}

static int parse_value(struct parser *p, struct jval *v)
{
	int r;
	memset(v, 0, sizeof *v);
	skip_ws(p);
	if (p->s >= p->end)
		return fail(p, "unexpected end of input");
	if (++p->depth > JSON_MAX_DEPTH)
		return fail(p, "nested too deeply");
	switch (*p->s) {
	case '{': r = parse_object(p, v); break;
	case '[': r = parse_array(p, v); break;
	case '"':
		v->type = J_STR;
		r = parse_string(p, &v->str, &v->len);
		break;
	case 't':
		v->type = J_BOOL;
		v->boolean = 1;
		r = parse_literal(p, "true");
		break;
	case 'f':
		v->type = J_BOOL;
		r = parse_literal(p, "false");
		break;
	case 'n':
		v->type = J_NULL;
		r = parse_literal(p, "null");
		break;
	default:
		v->type = J_NUM;
		r = parse_number(p, &v->num);
		break;
	}
	p->depth--;
	return r;
}

int json_parse(const char *text, size_t len, struct jval *out, char *err, size_t errlen)
{
	struct parser p = { text, text + len, err, errlen, 0 };
	if (parse_value(&p, out) < 0) {
		json_free(out);
		return -1;
	}
	skip_ws(&p);
	if (p.s != p.end) {
		json_free(out);
		return fail(&p, "trailing characters after the JSON value");
	}
	return 0;
}

void json_free(struct jval *v)
{
	for (size_t i = 0; i < v->n; i++) {
		json_free(&v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->str);
	memset(v, 0, sizeof *v);
}

const struct jval *json_get(const struct jval *obj, const char *key)
{
	if (obj == NULL || obj->type != J_OBJ)
		return NULL;
	for (size_t i = 0; i < obj->n; i++)
		if (strcmp(obj->keys[i], key) == 0)
			return &obj->items[i];
	return NULL;
}

const char *json_type_name(enum jtype t)
{
	static const char *const names[] = { "null", "boolean", "number", "string", "array", "object" };
	return names[t];
}

/* ---- writer ---- */

void jb_init(struct jbuf *b)
{
	b->cap = 256;
	b->len = 0;
	b->p = xmalloc(b->cap);
	b->meta = NULL;
}

void jb_free(struct jbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	free(b->meta);
	b->meta = NULL;
}

void jb_append(struct jbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		while (b->len + n + 1 > b->cap)
			b->cap *= 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* A comma unless this is the first thing in an object/array or a value after its key. */
static void sep(struct jbuf *b)
{
	if (b->len == 0)
		return;
	char last = b->p[b->len - 1];
	if (last != '{' && last != '[' && last != ':')
		jb_append(b, ",", 1);
}

void jb_obj_begin(struct jbuf *b)
{
	sep(b);
	jb_append(b, "{", 1);
}

void jb_obj_end(struct jbuf *b)
{
	jb_append(b, "}", 1);
}

void jb_arr_begin(struct jbuf *b)
{
	sep(b);
	jb_append(b, "[", 1);
}

void jb_arr_end(struct jbuf *b)
{
	jb_append(b, "]", 1);
}

static void put_quoted(struct jbuf *b, const char *s, size_t n)
{
	jb_append(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			jb_append(b, esc, 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof esc, "\\u%04x", c);
			jb_append(b, esc, 6);
		} else if (c < 0x80) {
			jb_append(b, (const char *)&s[i], 1);
		} else {
			/* Events are UTF-8: a byte that starts no valid sequence becomes U+FFFD. */
			size_t k = utf8_len((const unsigned char *)s + i, n - i);
			if (k == 0)
				jb_append(b, "\xEF\xBF\xBD", 3);
			else
				jb_append(b, s + i, k);
			i += k > 0 ? k - 1 : 0;
		}
	}
	jb_append(b, "\"", 1);
}

void jb_key(struct jbuf *b, const char *key)
{
	sep(b);
	put_quoted(b, key, strlen(key));
	jb_append(b, ":", 1);
}

void jb_strn(struct jbuf *b, const char *s, size_t n)
{
	sep(b);
	put_quoted(b, s, n);
}

void jb_str(struct jbuf *b, const char *s)
{
	jb_strn(b, s, strlen(s));
}

/* The decimal digits of v, written backwards so they end at `end`; returns
 * where they start. Numbers are most of what the sampler writes, and
 * snprintf's format parsing cost more than the digits. */
static char *digits_before(char *end, unsigned long long v)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return end;
}

void jb_int(struct jbuf *b, long long v)
{
	char tmp[24], *end = tmp + sizeof tmp;
	char *p = digits_before(end, v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v);
	if (v < 0)
		*--p = '-';
	sep(b);
	jb_append(b, p, (size_t)(end - p));
}

void jb_uint(struct jbuf *b, unsigned long long v)
{
	char tmp[24], *end = tmp + sizeof tmp;
	char *p = digits_before(end, v);
	sep(b);
	jb_append(b, p, (size_t)(end - p));
}

void jb_bool(struct jbuf *b, int v)
{
	sep(b);
	jb_append(b, v ? "true" : "false", v ? 4 : 5);
}

void jb_fixed3(struct jbuf *b, double v)
{
	char tmp[48];
	int n = snprintf(tmp, sizeof tmp, "%.3f", v);
	sep(b);
	jb_append(b, tmp, (size_t)n);
}

void jb_raw(struct jbuf *b, const char *json)
{
	sep(b);
	jb_append(b, json, strlen(json));
}
