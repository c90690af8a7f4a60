/* persist/format.c: encoding and decoding of the fixed-size on-disk
 * structures (file header, frame header, index entry; layouts at the top
 * of persist/segment.c), crc32c, file naming and the name tables. Every
 * decoder checks its checksum and bounds before filling its output.
 *
 * The writer's encodings are checked in debug builds by the seg_*_verify
 * helpers at the end of this file: each decodes what was just encoded and
 * asserts the fields came back (our bug if not). They are never called on
 * bytes read from disk: a damaged file is counted and reported.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "persist/seg-int.h"
#include "rc-assert.h"

static const char *const method_names[SEG_M_COUNT] = {
	"OTHER", "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE"
};
static const char *const type_names[SEG_T_COUNT] = {
	"none", "json", "html", "xml", "js", "css", "text", "image", "media", "font", "form",
	"binary", "other"
};
static const char *const error_names[SEG_E_COUNT] = {
	"none", "dns", "connect", "tls", "timeout", "reset", "protocol", "upstream_closed",
	"client_closed", "other", "cert_refused"
};
static const char *const kind_ext[3] = { "seg", "idx", "str" };
static const char *const kind_magic[3] = { SEG_MAGIC_SEG, SEG_MAGIC_IDX, SEG_MAGIC_STR };

void seg_fhdr_encode(uint8_t out[SEG_FILE_HDR_SIZE], enum seg_kind k, const struct seg_fhdr *h)
{
	memset(out, 0, SEG_FILE_HDR_SIZE);
	bool v2 = h->idx_version == SEG_IDX_V2;
	memcpy(out, k == SEG_K_IDX && v2 ? SEG_MAGIC_IDX2 : kind_magic[k], 8);
	seg_put16(out + 8, h->worker);
	if (k == SEG_K_SEG && v2)
		out[10] = SEG_IDX_V2; /* V1 writers left it zero */
	seg_put32(out + 12, h->segno);
	seg_put64(out + 16, h->created_ns);
	seg_put32(out + 28, seg_crc32c(0, out, 28));
}

int seg_fhdr_decode(const uint8_t in[SEG_FILE_HDR_SIZE], enum seg_kind k, struct seg_fhdr *h)
{
	bool idx2 = k == SEG_K_IDX && memcmp(in, SEG_MAGIC_IDX2, 8) == 0;
	if (memcmp(in, kind_magic[k], 8) != 0 && !idx2)
		return -EBADMSG;
	if (seg_get32(in + 28) != seg_crc32c(0, in, 28))
		return -EBADMSG;
	h->idx_version = k == SEG_K_STR ? 0 : SEG_IDX_V1;
	if (idx2 || (k == SEG_K_SEG && in[10] == SEG_IDX_V2))
		h->idx_version = SEG_IDX_V2;
	h->worker = seg_get16(in + 8);
	h->segno = seg_get32(in + 12);
	h->created_ns = seg_get64(in + 16);
	if (h->worker >= SEG_WORKERS_MAX)
		return -EBADMSG;
	return 0;
}

void seg_frame_hdr_encode(uint8_t out[SEG_FRAME_HDR_SIZE], const struct seg_frame_hdr *h)
{
	seg_put32(out, SEG_FRAME_MAGIC);
	seg_put32(out + 4, h->clen);
	seg_put32(out + 8, h->ulen | (h->raw ? SEG_FRAME_F_RAW : 0));
	seg_put32(out + 12, h->nrec);
	seg_put64(out + 16, h->id_hi);
	seg_put32(out + 24, h->payload_crc);
	seg_put32(out + 28, seg_crc32c(0, out, 28));
}

int seg_frame_hdr_decode(const uint8_t in[SEG_FRAME_HDR_SIZE], struct seg_frame_hdr *h)
{
	if (seg_get32(in) != SEG_FRAME_MAGIC)
		return -EBADMSG;
	if (seg_get32(in + 28) != seg_crc32c(0, in, 28))
		return -EBADMSG;
	h->clen = seg_get32(in + 4);
	uint32_t ulen = seg_get32(in + 8);
	h->raw = (ulen & SEG_FRAME_F_RAW) != 0;
	h->ulen = ulen & ~SEG_FRAME_F_MASK;
	h->nrec = seg_get32(in + 12);
	h->id_hi = seg_get64(in + 16);
	h->payload_crc = seg_get32(in + 24);
	if (h->clen == 0 || h->clen > SEG_FRAME_CLEN_MAX)
		return -EBADMSG;
	if (h->ulen > SEG_FRAME_ULEN_MAX || h->nrec > SEG_FRAME_RECS_MAX)
		return -EBADMSG;
	if ((ulen & SEG_FRAME_F_MASK & ~SEG_FRAME_F_RAW) || (h->raw && h->clen != h->ulen))
		return -EBADMSG; /* a reserved bit, or a raw frame of two lengths */
	return 0;
}

/* The layouts (segment.c) end with their checksums: RCAPIDX1's at 92,
 * RCAPIDX2's str crc at 57 and entry crc at 61. */
_Static_assert(SEG_ENTRY1_SIZE == 92 + 4, "RCAPIDX1 layout and size disagree");
_Static_assert(SEG_ENTRY2_SIZE == 61 + 4, "RCAPIDX2 layout and size disagree");
_Static_assert(SEG_ENTRY2_SIZE <= SEG_ENTRY_SIZE_MAX, "SEG_ENTRY_SIZE_MAX too small");

static void entry1_encode(uint8_t out[SEG_ENTRY1_SIZE], const struct seg_entry *e)
{
	memset(out, 0, SEG_ENTRY1_SIZE);
	seg_put64(out + 0, e->id);
	seg_put64(out + 8, e->start_ns);
	seg_put64(out + 16, e->duration_ns);
	seg_put32(out + 24, e->frame_off);
	seg_put32(out + 28, e->last_frame_off);
	seg_put32(out + 32, e->str_off);
	seg_put16(out + 36, e->host_len);
	seg_put16(out + 38, e->url_len);
	seg_put64(out + 40, e->req_size);
	seg_put64(out + 48, e->resp_size);
	memcpy(out + 56, e->client.addr, 16);
	seg_put16(out + 72, e->client.port);
	seg_put16(out + 74, e->status);
	seg_put32(out + 76, e->flags & ~SEG_F_DELETED);
	out[80] = e->method;
	out[81] = e->type;
	out[82] = e->error;
	out[83] = e->client.family;
	seg_put32(out + 84, e->str_crc);
	seg_put16(out + 88, e->span);
	seg_put32(out + 92, seg_crc32c(0, out, 92));
}

static void put48(uint8_t *p, uint64_t v)
{
	v = v > SEG_SAT48 ? SEG_SAT48 : v;
	seg_put32(p, (uint32_t)v);
	seg_put16(p + 4, (uint16_t)(v >> 32));
}

static uint64_t get48(const uint8_t *p) { return seg_get32(p) | (uint64_t)seg_get16(p + 4) << 32; }

static void put40(uint8_t *p, uint64_t v)
{
	v = v > SEG_SAT40 ? SEG_SAT40 : v;
	seg_put32(p, (uint32_t)v);
	p[4] = (uint8_t)(v >> 32);
}

static uint64_t get40(const uint8_t *p) { return seg_get32(p) | (uint64_t)p[4] << 32; }

/* Client family in two bits of an RCAPIDX2 entry: 0 none, 1 IPv4, 2 IPv6. */
static uint8_t family_code(uint8_t f) { return f == 4 ? 1 : f == 6 ? 2 : 0; }

static void entry2_encode(uint8_t out[SEG_ENTRY2_SIZE], const struct seg_entry *e)
{
	ASSERT(e->host_len <= SEG_HOST_MAX);
	ASSERT((e->flags & ~SEG_F_DELETED & ~SEG_F_ON_DISK) == 0);
	ASSERT(e->method < SEG_M_COUNT);
	ASSERT(e->type < SEG_T_COUNT);
	ASSERT(e->error < SEG_E_COUNT);
	ASSERT(e->client.family == 0 || e->client.family == 4 || e->client.family == 6);
	memset(out, 0, SEG_ENTRY2_SIZE);
	uint64_t seq = e->id & SEG_SEQ_MAX;
	seg_put32(out + 0, (uint32_t)seq);
	out[4] = (uint8_t)(seq >> 32);
	out[5] = (uint8_t)e->host_len;
	seg_put16(out + 6, e->url_len);
	seg_put64(out + 8, e->start_ns);
	put48(out + 16, e->duration_ns);
	put40(out + 22, e->req_size);
	put40(out + 27, e->resp_size);
	seg_put32(out + 32, e->frame_off);
	seg_put32(out + 36, e->last_frame_off);
	seg_put32(out + 40, e->str_off);
	uint16_t status = e->status > SEG_STATUS2_MAX ? SEG_STATUS2_MAX : e->status;
	seg_put16(out + 44, (uint16_t)(status | e->error << 10 |
				       family_code(e->client.family) << 14));
	seg_put16(out + 46, (uint16_t)(e->flags & ~SEG_F_DELETED));
	out[48] = (uint8_t)(e->method | e->type << 4);
	seg_put16(out + 49, e->span);
	seg_put16(out + 51, e->client.port);
	if (e->client.family == 4)
		memcpy(out + 53, e->client.addr, 4);
	seg_put32(out + 57, e->str_crc);
	seg_put32(out + 61, seg_crc32c(0, out, 61));
}

void seg_entry_encode(uint8_t *out, uint8_t ver, const struct seg_entry *e)
{
	if (ver == SEG_IDX_V1)
		entry1_encode(out, e);
	else
		entry2_encode(out, e);
}

static int entry1_decode(const uint8_t in[SEG_ENTRY1_SIZE], struct seg_entry *e)
{
	if (seg_get32(in + 92) != seg_crc32c(0, in, 92))
		return -EBADMSG;
	e->id = seg_get64(in + 0);
	e->start_ns = seg_get64(in + 8);
	e->duration_ns = seg_get64(in + 16);
	e->frame_off = seg_get32(in + 24);
	e->last_frame_off = seg_get32(in + 28);
	e->str_off = seg_get32(in + 32);
	e->host_len = seg_get16(in + 36);
	e->url_len = seg_get16(in + 38);
	e->req_size = seg_get64(in + 40);
	e->resp_size = seg_get64(in + 48);
	memcpy(e->client.addr, in + 56, 16);
	e->client.port = seg_get16(in + 72);
	e->status = seg_get16(in + 74);
	e->flags = seg_get32(in + 76);
	e->method = in[80];
	e->type = in[81];
	e->error = in[82];
	e->client.family = in[83];
	e->str_crc = seg_get32(in + 84);
	e->span = seg_get16(in + 88);
	return 0;
}

static int entry2_decode(const uint8_t in[SEG_ENTRY2_SIZE], uint16_t worker, struct seg_entry *e)
{
	static const uint8_t families[4] = { 0, 4, 6, 0xff };
	if (seg_get32(in + 61) != seg_crc32c(0, in, 61))
		return -EBADMSG;
	e->id = (uint64_t)worker << SEG_ID_WORKER_SHIFT | seg_get32(in) | (uint64_t)in[4] << 32;
	e->host_len = in[5];
	e->url_len = seg_get16(in + 6);
	e->start_ns = seg_get64(in + 8);
	e->duration_ns = get48(in + 16);
	e->req_size = get40(in + 22);
	e->resp_size = get40(in + 27);
	e->frame_off = seg_get32(in + 32);
	e->last_frame_off = seg_get32(in + 36);
	e->str_off = seg_get32(in + 40);
	uint16_t sef = seg_get16(in + 44);
	e->status = sef & SEG_STATUS2_MAX;
	e->error = (sef >> 10) & 15;
	e->client.family = families[sef >> 14];
	e->flags = seg_get16(in + 46);
	e->method = in[48] & 15;
	e->type = in[48] >> 4;
	e->span = seg_get16(in + 49);
	e->client.port = seg_get16(in + 51);
	if (e->client.family == 4)
		memcpy(e->client.addr, in + 53, 4);
	e->str_crc = seg_get32(in + 57);
	if (e->client.family == 0xff)
		return -EBADMSG; /* family code 3 */
	if (e->client.family != 4 && seg_get32(in + 53) != 0)
		return -EBADMSG;
	return 0;
}

int seg_entry_decode(const uint8_t *in, uint8_t ver, uint16_t worker, struct seg_entry *e)
{
	memset(e, 0, sizeof(*e));
	int rc = ver == SEG_IDX_V1 ? entry1_decode(in, e) : entry2_decode(in, worker, e);
	e->idx_version = ver;
	if (rc < 0)
		return rc;
	e->worker = worker;
	if (e->host_len > SEG_HOST_MAX || e->url_len > SEG_URL_MAX)
		return -EBADMSG;
	if (e->method >= SEG_M_COUNT || e->type >= SEG_T_COUNT || e->error >= SEG_E_COUNT)
		return -EBADMSG;
	if (e->last_frame_off < SEG_FILE_HDR_SIZE || e->frame_off < SEG_FILE_HDR_SIZE)
		return -EBADMSG;
	if (e->span == 0 && e->frame_off > e->last_frame_off)
		return -EBADMSG;
	return 0;
}

uint64_t seg_entry_id(const uint8_t *in, uint8_t ver, uint16_t worker)
{
	if (ver == SEG_IDX_V1)
		return seg_get64(in);
	return (uint64_t)worker << SEG_ID_WORKER_SHIFT | seg_get32(in) | (uint64_t)in[4] << 32;
}

void seg_file_name(char *buf, size_t cap, uint16_t worker, uint32_t segno, enum seg_kind k)
{
	snprintf(buf, cap, "w%03u-%08u.%s", (unsigned)worker, (unsigned)segno, kind_ext[k]);
}

bool seg_file_parse(const char *name, uint16_t *worker, uint32_t *segno, enum seg_kind *k)
{
	unsigned w, s;
	char ext[4];
	int used = 0;
	if (strlen(name) != 17 || name[0] != 'w' || name[4] != '-' || name[13] != '.')
		return false;
	if (sscanf(name, "w%3u-%8u.%3s%n", &w, &s, ext, &used) != 3 || used != 17)
		return false;
	for (int i = 0; i < 3; i++) {
		if (strcmp(ext, kind_ext[i]) == 0 && w < SEG_WORKERS_MAX && s >= 1) {
			*worker = (uint16_t)w;
			*segno = s;
			*k = (enum seg_kind)i;
			return true;
		}
	}
	return false;
}

static int item_cmp(const void *a, const void *b)
{
	const struct seg_list_item *x = a, *y = b;
	if (x->worker != y->worker)
		return x->worker < y->worker ? -1 : 1;
	return x->segno < y->segno ? -1 : x->segno > y->segno;
}

int seg_list_segments(const char *session_dir, struct seg_list_item **out, size_t *n)
{
	DIR *d = opendir(session_dir);
	if (!d)
		return -errno;
	size_t cap = 64, cnt = 0;
	struct seg_list_item *v = malloc(cap * sizeof(*v));
	int rc = v ? 0 : -ENOMEM;
	struct dirent *de;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		uint16_t w;
		uint32_t s;
		enum seg_kind k;
		if (!seg_file_parse(de->d_name, &w, &s, &k) || k != SEG_K_SEG)
			continue;
		if (cnt == SEG_FILES_MAX) {
			rc = -E2BIG;
			break;
		}
		if (cnt == cap) {
			struct seg_list_item *nv = realloc(v, 2 * cap * sizeof(*v));
			if (!nv) {
				rc = -ENOMEM;
				break;
			}
			v = nv;
			cap *= 2;
		}
		v[cnt].worker = w;
		v[cnt].segno = s;
		cnt++;
	}
	closedir(d);
	if (rc < 0) {
		free(v);
		return rc;
	}
	qsort(v, cnt, sizeof(*v), item_cmp);
	*out = v;
	*n = cnt;
	return 0;
}

void seg_report_damage(struct seg_report *rep, const char *file, uint64_t off, const char *what)
{
	if (!rep || rep->first_damage[0])
		return;
	snprintf(rep->first_damage, sizeof(rep->first_damage), "%s: offset %llu: %s", file,
		 (unsigned long long)off, what);
}

bool seg_report_damaged(const struct seg_report *r)
{
	return r->frames_bad || r->bad_regions || r->torn_bytes || r->entries_bad ||
	       r->strings_bad || r->indexes_healed || r->entries_recovered ||
	       r->strings_recovered || r->files_missing || r->tombstones_bad || r->entries_lost ||
	       r->tombstones_lost;
}

const char *seg_method_name(uint8_t m) { return m < SEG_M_COUNT ? method_names[m] : "OTHER"; }
const char *seg_type_name(uint8_t t) { return t < SEG_T_COUNT ? type_names[t] : "other"; }
const char *seg_tunnel_name(uint32_t flags)
{
	static const char *const names[SEG_TUN_COUNT] = {
		"", "intercepted", "passthrough", "not_tls", "refused", "blind"
	};
	unsigned k = seg_tunnel_of(flags);
	if (k == SEG_TUN_UNKNOWN)
		return (flags & SEG_F_TUNNEL) ? "tunnel" : "";
	return k < SEG_TUN_COUNT ? names[k] : "tunnel";
}

const char *seg_error_name(uint8_t e) { return e < SEG_E_COUNT ? error_names[e] : "other"; }

uint8_t seg_method_parse(const char *s, size_t n)
{
	for (uint8_t m = 1; m < SEG_M_COUNT; m++)
		if (strlen(method_names[m]) == n && memcmp(method_names[m], s, n) == 0)
			return m;
	return SEG_M_OTHER;
}

static bool has_ci(const char *s, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	for (size_t i = 0; i + k <= n; i++)
		if (strncasecmp(s + i, needle, k) == 0)
			return true;
	return false;
}

/* Maps a Content-Type value to a class; order matters (image/svg+xml is
 * an image, application/xhtml+xml is html). */
uint8_t seg_type_from_mime(const char *s, size_t n)
{
	static const struct { const char *needle; uint8_t t; } map[] = {
		{ "image/", SEG_T_IMAGE }, { "audio/", SEG_T_MEDIA }, { "video/", SEG_T_MEDIA },
		{ "json", SEG_T_JSON }, { "html", SEG_T_HTML }, { "javascript", SEG_T_JS },
		{ "ecmascript", SEG_T_JS }, { "xml", SEG_T_XML }, { "text/css", SEG_T_CSS },
		{ "font", SEG_T_FONT }, { "x-www-form-urlencoded", SEG_T_FORM },
		{ "multipart/form-data", SEG_T_FORM }, { "text/", SEG_T_TEXT },
		{ "octet-stream", SEG_T_BINARY }, { "application/", SEG_T_OTHER },
	};
	if (n == 0)
		return SEG_T_NONE;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (has_ci(s, n, map[i].needle))
			return map[i].t;
	return SEG_T_OTHER;
}

#ifndef NDEBUG
void seg_fhdr_verify(const uint8_t in[SEG_FILE_HDR_SIZE], enum seg_kind k,
		     const struct seg_fhdr *h)
{
	struct seg_fhdr d;
	ASSERT(seg_fhdr_decode(in, k, &d) == 0);
	ASSERT(d.worker == h->worker);
	ASSERT(d.segno == h->segno);
	ASSERT(d.created_ns == h->created_ns);
	if (k != SEG_K_STR)
		ASSERT(d.idx_version == (h->idx_version == SEG_IDX_V2 ? SEG_IDX_V2 : SEG_IDX_V1));
}

void seg_frame_hdr_verify(const uint8_t in[SEG_FRAME_HDR_SIZE], const struct seg_frame_hdr *h)
{
	struct seg_frame_hdr d;
	ASSERT(seg_frame_hdr_decode(in, &d) == 0);
	ASSERT(d.clen == h->clen);
	ASSERT(d.ulen == h->ulen);
	ASSERT(d.nrec == h->nrec);
	ASSERT(d.id_hi == h->id_hi);
	ASSERT(d.payload_crc == h->payload_crc);
	ASSERT(d.raw == h->raw);
}

/* Offsets and lengths: what a reader seeks with. The remaining fields are
 * copied byte for byte and covered by the entry checksum. V2 saturates
 * the duration, sizes and status and keeps an IPv4 client's address only. */
void seg_entry_verify(const uint8_t *in, uint8_t ver, const struct seg_entry *e)
{
	struct seg_entry d;
	uint64_t sat = ver == SEG_IDX_V1 ? UINT64_MAX : SEG_SAT48;
	uint64_t sat_size = ver == SEG_IDX_V1 ? UINT64_MAX : SEG_SAT40;
	ASSERT(seg_entry_decode(in, ver, (uint16_t)(e->id >> SEG_ID_WORKER_SHIFT), &d) == 0);
	ASSERT(d.id == e->id);
	ASSERT(d.start_ns == e->start_ns);
	ASSERT(d.duration_ns == (e->duration_ns > sat ? sat : e->duration_ns));
	ASSERT(d.frame_off == e->frame_off);
	ASSERT(d.last_frame_off == e->last_frame_off);
	ASSERT(d.str_off == e->str_off);
	ASSERT(d.host_len == e->host_len);
	ASSERT(d.url_len == e->url_len);
	ASSERT(d.req_size == (e->req_size > sat_size ? sat_size : e->req_size));
	ASSERT(d.resp_size == (e->resp_size > sat_size ? sat_size : e->resp_size));
	ASSERT(d.status == (ver == SEG_IDX_V1 || e->status <= SEG_STATUS2_MAX ? e->status :
			    SEG_STATUS2_MAX));
	ASSERT(d.flags == (e->flags & ~SEG_F_DELETED));
	ASSERT(d.method == e->method);
	ASSERT(d.type == e->type);
	ASSERT(d.error == e->error);
	ASSERT(d.str_crc == e->str_crc);
	ASSERT(d.span == e->span);
	ASSERT(d.client.family == e->client.family);
	ASSERT(d.client.port == e->client.port);
	if (ver == SEG_IDX_V1 || e->client.family == 4) {
		ASSERT(memcmp(d.client.addr, e->client.addr, ver == SEG_IDX_V1 ? 16 : 4) == 0);
	}
}
#endif
