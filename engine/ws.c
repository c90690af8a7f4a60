/*
 * engine/ws.c - the WebSocket frame observer (engine/ws.h): frame headers
 * collected across reads, payloads unmasked into the caller's scratch,
 * fragments joined into messages, control frames collected whole,
 * permessage-deflate inflated with zlib out of a per-direction arena.
 *
 * Runs on the engine's worker threads, on bytes that are being forwarded
 * anyway: it never blocks, never allocates (zlib's allocator is a bump
 * arena the caller owns), and every loop is bounded by its input (an
 * inflate loop by its input and WS_INFLATE_MAX). Peer input never trips an
 * assertion: a frame that breaks RFC 6455 ends the observation of its
 * direction (enum ws_broken) and the bytes flow on.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "engine/ws.h"
#include "rc-assert.h"

_Static_assert(WS_CTRL_MAX <= 255u, "clen is 8 bit");
_Static_assert(WS_HDR_MAX <= 255u, "hlen is 8 bit");
_Static_assert(WS_ZARENA_BYTES >= (1u << WS_WBITS_MAX) + 8u * 1024u,
	       "a 15-bit window and zlib's inflate state fit the arena");
_Static_assert(WS_CHUNK <= 0xffffffffu, "zlib's avail_out is 32 bit");

/* What RFC 7692 7.2.2 appends to a message before inflating it. */
static const uint8_t deflate_tail[4] = { 0x00, 0x00, 0xff, 0xff };

static void break_side(struct ws_conn *c, unsigned dir, enum ws_broken why);
static void frame_start(struct ws_conn *c, unsigned dir, uint64_t now_ns);
static void frame_end(struct ws_conn *c, unsigned dir, uint8_t *scratch);
static size_t take_header(struct ws_conn *c, unsigned dir, const uint8_t *p, size_t n,
			  uint64_t now_ns, uint8_t *scratch);
static size_t take_payload(struct ws_conn *c, unsigned dir, const uint8_t *p, size_t n,
			   uint8_t *scratch);

/* ---- zlib out of the arena ---- */

static voidpf arena_alloc(voidpf opaque, uInt items, uInt size)
{
	struct ws_side *s = opaque;
	size_t n = (size_t)items * (size_t)size;
	if (size != 0 && n / size != items)
		return Z_NULL;
	n = (n + 15u) & ~(size_t)15u;
	if (n > WS_ZARENA_BYTES - s->arena_used)
		return Z_NULL;
	void *p = s->arena + s->arena_used;
	s->arena_used += n;
	return p;
}

static void arena_free(voidpf opaque, voidpf p)
{
	(void)opaque;
	(void)p;   /* the arena goes back whole with its connection */
}

int ws_init(struct ws_conn *c, const struct ws_deflate *d, uint8_t *arena,
	    ws_emit_fn *emit, void *arg)
{
	memset(c, 0, sizeof(*c));
	c->emit = emit;
	c->arg = arg;
	if (d == NULL || !d->on)
		return 0;
	int rc = 0;
	for (unsigned dir = 0; dir < 2; dir++) {
		struct ws_side *s = &c->side[dir];
		s->deflate = true;
		if (arena == NULL) {
			rc = -ENOMEM;   /* compressed messages come out cut */
			continue;
		}
		s->arena = arena + (size_t)dir * WS_ZARENA_BYTES;
		s->z.zalloc = arena_alloc;
		s->z.zfree = arena_free;
		s->z.opaque = s;
		s->no_takeover = d->no_takeover[dir];
		unsigned bits = d->wbits[dir];
		if (bits < 9u || bits > WS_WBITS_MAX)
			bits = bits < 9u ? 9u : WS_WBITS_MAX;   /* zlib makes 9 of 8 */
		if (inflateInit2(&s->z, -(int)bits) != Z_OK) {
			rc = -ENOMEM;
			continue;
		}
		s->zinit = s->zok = true;
	}
	return rc;
}

/* ---- emitting ---- */

/* A piece of the data message in progress; last ends the message. */
static void emit_data(struct ws_conn *c, unsigned dir, const uint8_t *p, size_t n, bool last)
{
	struct ws_side *s = &c->side[dir];
	if (n == 0 && !last)
		return;
	s->mlen += n;
	struct ws_piece pc = {
		.dir = (uint8_t)dir, .opcode = s->mop, .start_ns = s->mstart_ns,
		.flags = (uint8_t)(s->mflags | (s->mfirst_out ? 0u : WS_M_FIRST) |
				   (last ? WS_M_LAST : 0u)),
		.len = s->mlen, .wire_len = s->mwire,
	};
	s->mfirst_out = true;
	if (last) {
		s->in_msg = false;
		c->messages++;
	}
	c->emit(c->arg, &pc, p, n);
}

/* Inflates n bytes of the message in progress into out (WS_CHUNK) and
 * emits what comes out. A stream error or the size bound cuts the message
 * and stops the stream (until a reset when there is no context takeover). */
static void inflate_piece(struct ws_conn *c, unsigned dir, const uint8_t *in, size_t n,
			  uint8_t *out)
{
	struct ws_side *s = &c->side[dir];
	if (!s->zok || (s->mflags & WS_M_CUT)) {
		s->mflags |= WS_M_CUT;
		return;
	}
	s->z.next_in = (Bytef *)(uintptr_t)in;
	s->z.avail_in = (uInt)n;
	/* each round consumes input or fills out; out fills at most
	 * WS_INFLATE_MAX / WS_CHUNK times per message */
	for (uint64_t round = 0; round <= n + WS_INFLATE_MAX / WS_CHUNK + 1u; round++) {
		s->z.next_out = out;
		s->z.avail_out = WS_CHUNK;
		int rc = inflate(&s->z, Z_SYNC_FLUSH);
		size_t got = WS_CHUNK - s->z.avail_out;
		if (rc != Z_OK && rc != Z_BUF_ERROR && rc != Z_STREAM_END) {
			s->zok = false;
			s->mflags |= WS_M_CUT;
			emit_data(c, dir, out, got, false);
			return;
		}
		if (got > WS_INFLATE_MAX - s->mlen) {
			emit_data(c, dir, out, (size_t)(WS_INFLATE_MAX - s->mlen), false);
			s->mflags |= WS_M_CUT;
			s->zok = false;   /* the window is lost for what follows */
			return;
		}
		emit_data(c, dir, out, got, false);
		if (rc == Z_STREAM_END && inflateReset(&s->z) != Z_OK) {
			s->zok = false;   /* a final block: the next one starts afresh */
			return;
		}
		if (s->z.avail_in == 0 && s->z.avail_out != 0)
			return;
		if (rc == Z_BUF_ERROR)
			return;   /* no progress possible */
	}
}

static void message_end(struct ws_conn *c, unsigned dir, uint8_t *scratch)
{
	struct ws_side *s = &c->side[dir];
	if (s->mdeflated) {
		inflate_piece(c, dir, deflate_tail, sizeof(deflate_tail), scratch + WS_CHUNK);
		if (s->no_takeover && s->zinit)
			s->zok = inflateReset(&s->z) == Z_OK;
	}
	emit_data(c, dir, NULL, 0, true);
}

/* ---- frames ---- */

int ws_feed(struct ws_conn *c, unsigned dir, const uint8_t *p, size_t n, uint64_t now_ns,
	    uint8_t *scratch)
{
	if (!ALWAYS(dir < 2))
		return WS_BAD_OPCODE;
	struct ws_side *s = &c->side[dir];
	size_t off = 0;
	/* every round takes at least one byte */
	for (size_t round = 0; round <= n && off < n && s->broken == WS_OK; round++) {
		size_t k = s->in_payload ? take_payload(c, dir, p + off, n - off, scratch)
					 : take_header(c, dir, p + off, n - off, now_ns, scratch);
		off += k;
	}
	return s->broken;
}

/* Collects header bytes; a complete header starts the frame. */
static size_t take_header(struct ws_conn *c, unsigned dir, const uint8_t *p, size_t n,
			  uint64_t now_ns, uint8_t *scratch)
{
	struct ws_side *s = &c->side[dir];
	size_t need = 2, took = 0;
	for (unsigned round = 0; round < 3 && took < n; round++) {
		if (s->hlen >= 2) {
			uint8_t l7 = s->hdr[1] & 0x7fu;
			need = 2u + (l7 == 126u ? 2u : l7 == 127u ? 8u : 0u) +
			       ((s->hdr[1] & 0x80u) ? 4u : 0u);
		}
		if (s->hlen >= need)
			break;
		size_t k = need - s->hlen < n - took ? need - s->hlen : n - took;
		memcpy(s->hdr + s->hlen, p + took, k);
		s->hlen = (uint8_t)(s->hlen + k);
		took += k;
	}
	if (s->hlen >= 2) {
		uint8_t l7 = s->hdr[1] & 0x7fu;
		need = 2u + (l7 == 126u ? 2u : l7 == 127u ? 8u : 0u) +
		       ((s->hdr[1] & 0x80u) ? 4u : 0u);
		if (s->hlen == need) {
			frame_start(c, dir, now_ns);
			if (s->broken == WS_OK && s->in_payload && s->left == 0)
				frame_end(c, dir, scratch);
		}
	}
	return took;
}

/* Decodes the collected header and checks it against RFC 6455 / 7692. */
static void frame_start(struct ws_conn *c, unsigned dir, uint64_t now_ns)
{
	struct ws_side *s = &c->side[dir];
	const uint8_t *h = s->hdr;
	uint8_t l7 = h[1] & 0x7fu, op = h[0] & 0x0fu;
	uint64_t len = l7;
	size_t at = 2;
	if (l7 == 126u) {
		len = (uint64_t)h[2] << 8 | h[3];
		at = 4;
	} else if (l7 == 127u) {
		len = 0;
		for (unsigned i = 0; i < 8; i++)
			len = len << 8 | h[2 + i];
		at = 10;
	}
	s->hlen = 0;
	s->ffin = (h[0] & 0x80u) != 0;
	s->frsv1 = (h[0] & 0x40u) != 0;
	s->fmasked = (h[1] & 0x80u) != 0;
	if (s->fmasked)
		memcpy(s->mask, h + at, 4);
	s->mpos = 0;
	s->fop = op;
	s->left = len;
	if (len >> 63) {
		break_side(c, dir, WS_BAD_LENGTH);
		return;
	}
	if (h[0] & 0x30u) {
		break_side(c, dir, WS_BAD_RSV);   /* no extension of ours uses RSV2/3 */
		return;
	}
	if (op >= 8u) {
		if (op > WS_OP_PONG) {
			break_side(c, dir, WS_BAD_OPCODE);
			return;
		}
		if (!s->ffin || len > WS_CTRL_MAX || s->frsv1) {
			break_side(c, dir, WS_BAD_CONTROL);
			return;
		}
		s->clen = 0;
		s->cstart_ns = now_ns;
	} else if (op == WS_OP_CONT) {
		if (!s->in_msg || s->frsv1) {
			break_side(c, dir, s->in_msg ? WS_BAD_RSV : WS_BAD_CONT);
			return;
		}
	} else if (op == WS_OP_TEXT || op == WS_OP_BINARY) {
		if (s->in_msg) {
			break_side(c, dir, WS_BAD_CONT);
			return;
		}
		if (s->frsv1 && !s->deflate) {
			break_side(c, dir, WS_BAD_RSV);   /* compressed, never negotiated */
			return;
		}
		s->in_msg = true;
		s->mop = op;
		s->mdeflated = s->frsv1;
		s->mfirst_out = false;
		s->mflags = s->frsv1 ? WS_M_DEFLATED : 0u;
		s->mstart_ns = now_ns;
		s->mlen = s->mwire = 0;
	} else {
		break_side(c, dir, WS_BAD_OPCODE);
		return;
	}
	s->in_payload = true;
}

/* dst = src XOR the mask key from key position pos, eight bytes at a time
 * (16 KiB masked frames through ws_feed alone, -O2, this box: 1.0 GB/s with
 * a byte loop, 2.7-3.4 GB/s with this one). */
static void unmask(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t mask[4],
		   unsigned pos)
{
	uint8_t m8[8];
	for (unsigned i = 0; i < 8; i++)
		m8[i] = mask[(pos + i) & 3u];
	uint64_t w;
	memcpy(&w, m8, 8);
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t v;
		memcpy(&v, src + i, 8);
		v ^= w;
		memcpy(dst + i, &v, 8);
	}
	for (; i < n; i++)
		dst[i] = (uint8_t)(src[i] ^ m8[i & 7u]);   /* 8 is a multiple of 4 */
}

/* Payload bytes of the current frame: unmasked, then collected (control),
 * inflated or emitted (data). Returns the bytes taken. */
static size_t take_payload(struct ws_conn *c, unsigned dir, const uint8_t *p, size_t n,
			   uint8_t *scratch)
{
	struct ws_side *s = &c->side[dir];
	size_t k = s->left < n ? (size_t)s->left : n;
	bool control = s->fop >= 8u;
	for (size_t off = 0; off < k;) {
		size_t m = k - off < WS_CHUNK ? k - off : WS_CHUNK;
		const uint8_t *q = p + off;
		uint8_t *dst = control ? s->ctrl + s->clen : scratch;
		if (s->fmasked) {
			unmask(dst, q, m, s->mask, s->mpos);
			s->mpos = (uint8_t)((s->mpos + m) & 3u);
			q = dst;
		} else if (control) {
			memcpy(dst, q, m);
		}
		off += m;
		if (control) {
			s->clen = (uint8_t)(s->clen + m);   /* m <= left <= WS_CTRL_MAX - clen */
			continue;
		}
		s->mwire += m;
		bool last = !s->mdeflated && s->ffin && off == s->left;
		if (s->mdeflated)
			inflate_piece(c, dir, q, m, scratch + WS_CHUNK);
		else
			emit_data(c, dir, q, m, last);
	}
	s->left -= k;
	if (s->left == 0)
		frame_end(c, dir, scratch);
	return k;
}

static void frame_end(struct ws_conn *c, unsigned dir, uint8_t *scratch)
{
	struct ws_side *s = &c->side[dir];
	s->in_payload = false;
	if (s->fop >= 8u) {
		struct ws_piece pc = { .dir = (uint8_t)dir, .opcode = s->fop,
				       .flags = WS_M_FIRST | WS_M_LAST, .start_ns = s->cstart_ns,
				       .len = s->clen, .wire_len = s->clen };
		c->messages++;
		c->emit(c->arg, &pc, s->ctrl, s->clen);
		return;
	}
	if (s->ffin && s->in_msg)
		message_end(c, dir, scratch);
}

/* The direction stops being observed; a message in progress ends cut. */
static void break_side(struct ws_conn *c, unsigned dir, enum ws_broken why)
{
	struct ws_side *s = &c->side[dir];
	if (s->in_msg) {
		s->mflags |= WS_M_CUT;
		emit_data(c, dir, NULL, 0, true);
	}
	s->broken = (uint8_t)why;
	s->in_payload = false;
	s->zok = false;
}

void ws_finish(struct ws_conn *c)
{
	for (unsigned dir = 0; dir < 2; dir++) {
		struct ws_side *s = &c->side[dir];
		if (s->broken == WS_OK && s->in_msg) {
			s->mflags |= WS_M_CUT;
			emit_data(c, dir, NULL, 0, true);
		}
		if (s->broken == WS_OK && s->in_payload && s->fop >= 8u) {
			struct ws_piece pc = { .dir = (uint8_t)dir, .opcode = s->fop,
					       .flags = WS_M_FIRST | WS_M_LAST | WS_M_CUT,
					       .start_ns = s->cstart_ns, .len = s->clen,
					       .wire_len = s->clen };
			c->emit(c->arg, &pc, s->ctrl, s->clen);
		}
		s->in_payload = s->in_msg = false;
		s->broken = WS_BAD_CONT;   /* fed no more */
		if (s->zinit)
			inflateEnd(&s->z);
		s->zinit = s->zok = false;
	}
}

uint16_t ws_close_code(const uint8_t *p, size_t n)
{
	return n >= 2 ? (uint16_t)(p[0] << 8 | p[1]) : 0;
}

/* ---- the 101's headers ---- */

static bool token_eq(const char *p, size_t n, const char *lit)
{
	size_t l = strlen(lit);
	return n == l && strncasecmp(p, lit, l) == 0;
}

static void trim(const char **p, size_t *n)
{
	while (*n > 0 && (**p == ' ' || **p == '\t')) {
		(*p)++;
		(*n)--;
	}
	while (*n > 0 && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
		(*n)--;
	if (*n >= 2 && (*p)[0] == '"' && (*p)[*n - 1] == '"') {
		(*p)++;
		*n -= 2;
	}
}

static uint8_t wbits_of(const char *v, size_t n)
{
	if (n == 0 || n > 2)
		return WS_WBITS_MAX;
	unsigned b = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return WS_WBITS_MAX;
		b = b * 10u + (unsigned)(v[i] - '0');
	}
	return b >= WS_WBITS_MIN && b <= WS_WBITS_MAX ? (uint8_t)b : WS_WBITS_MAX;
}

/* One extension "name; param; param=value": permessage-deflate fills d. */
static void extension(const char *p, size_t n, struct ws_deflate *d)
{
	bool first = true, pmd = false;
	for (size_t i = 0; i <= n;) {
		const char *semi = memchr(p + i, ';', n - i);
		size_t end = semi ? (size_t)(semi - p) : n;
		const char *t = p + i;
		size_t tl = end - i;
		trim(&t, &tl);
		const char *eq = memchr(t, '=', tl);
		size_t nl = eq ? (size_t)(eq - t) : tl;
		const char *v = eq ? eq + 1 : "";
		size_t vl = eq ? tl - nl - 1 : 0;
		size_t nl2 = nl;
		const char *nm = t;
		trim(&nm, &nl2);
		trim(&v, &vl);
		if (first) {
			pmd = token_eq(nm, nl2, "permessage-deflate") && !d->on;
			if (pmd) {
				d->on = true;
				d->wbits[WS_C2S] = d->wbits[WS_S2C] = WS_WBITS_MAX;
			}
		} else if (pmd && token_eq(nm, nl2, "server_no_context_takeover")) {
			d->no_takeover[WS_S2C] = true;
		} else if (pmd && token_eq(nm, nl2, "client_no_context_takeover")) {
			d->no_takeover[WS_C2S] = true;
		} else if (pmd && token_eq(nm, nl2, "server_max_window_bits")) {
			d->wbits[WS_S2C] = wbits_of(v, vl);
		} else if (pmd && token_eq(nm, nl2, "client_max_window_bits")) {
			d->wbits[WS_C2S] = wbits_of(v, vl);
		}
		first = false;
		i = end + 1;
	}
}

/* "a, b; x=1, c": each extension of a Sec-WebSocket-Extensions value. */
static void extensions(const char *p, size_t n, struct ws_deflate *d)
{
	for (size_t i = 0; i <= n;) {
		const char *comma = memchr(p + i, ',', n - i);
		size_t end = comma ? (size_t)(comma - p) : n;
		extension(p + i, end - i, d);
		i = end + 1;
	}
}

/* True when a comma-separated header value lists token. */
static bool lists(const char *p, size_t n, const char *token)
{
	for (size_t i = 0; i <= n;) {
		const char *comma = memchr(p + i, ',', n - i);
		size_t end = comma ? (size_t)(comma - p) : n;
		const char *t = p + i;
		size_t tl = end - i;
		trim(&t, &tl);
		if (token_eq(t, tl, token))
			return true;
		i = end + 1;
	}
	return false;
}

bool ws_head_scan(const char *head, size_t len, struct ws_deflate *d)
{
	memset(d, 0, sizeof(*d));
	bool ws = false;
	const char *end = head + len;
	const char *line = memchr(head, '\n', len);
	/* one round per header line, each at least one byte */
	for (size_t round = 0; line && round < len; round++) {
		const char *p = line + 1;
		if (p >= end)
			break;
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *colon = memchr(p, ':', (size_t)(le - p));
		line = nl;
		if (colon == NULL)
			continue;
		const char *v = colon + 1;
		size_t vl = (size_t)(le - v);
		if (vl > 0 && v[vl - 1] == '\r')
			vl--;
		size_t nmlen = (size_t)(colon - p);
		if (token_eq(p, nmlen, "upgrade"))
			ws = ws || lists(v, vl, "websocket");
		else if (token_eq(p, nmlen, "sec-websocket-extensions"))
			extensions(v, vl, d);
	}
	if (!ws)
		memset(d, 0, sizeof(*d));
	return ws;
}
