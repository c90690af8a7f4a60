/*
 * tools/views/messages.c - WebSocket messages as JSON and text (see
 * messages.h).
 */
#include <stdio.h>
#include <string.h>

#include "tools/lib/fmt.h"
#include "tools/views/export-int.h"
#include "tools/views/messages.h"

const char *rc_msg_type(unsigned opcode, char *buf, size_t len)
{
	static const char *const names[] = { [1] = "text", [2] = "binary", [8] = "close",
					     [9] = "ping", [10] = "pong" };
	if (opcode < sizeof(names) / sizeof(names[0]) && names[opcode])
		return names[opcode];
	snprintf(buf, len, "opcode %u", opcode);
	return buf;
}

/* A text message whose stored payload is readable goes as it is. */
static bool as_text(const struct seg_msg *m)
{
	return m->opcode == 1 && rc_utf8_valid(m->data, m->data_len);
}

void rc_msg_json(struct rc_buf *b, const struct seg_msg *m)
{
	char t[40], ty[16];
	rc_iso_time(m->start_ns, t, sizeof(t));
	rc_buf_printf(b, "{\"direction\":\"%s\",\"time\":\"%s\",\"time_ns\":%llu,\"opcode\":%u,"
		      "\"type\":\"%s\",\"length\":%llu,\"wire_length\":%llu,\"deflated\":%s,"
		      "\"cut\":%s,\"encoding\":\"%s\",\"data\":",
		      m->dir == SEG_DIR_REQ ? "send" : "receive", t,
		      (unsigned long long)m->start_ns, m->opcode, rc_msg_type(m->opcode, ty, sizeof(ty)),
		      (unsigned long long)m->len, (unsigned long long)m->wire_len,
		      m->deflated ? "true" : "false", m->cut ? "true" : "false",
		      as_text(m) ? "text" : "base64");
	if (as_text(m)) {
		rc_buf_jstr(b, (const char *)m->data, m->data_len);
	} else {
		rc_buf_puts(b, "\"");
		rc_buf_base64(b, m->data, m->data_len);
		rc_buf_puts(b, "\"");
	}
	if (m->opcode == 8 && m->data_len >= 2) {
		rc_buf_printf(b, ",\"close_code\":%u,\"close_reason\":",
			      (unsigned)(m->data[0] << 8 | m->data[1]));
		rc_buf_jstr(b, (const char *)m->data + 2, m->data_len - 2);
	}
	rc_buf_puts(b, "}");
}

void rc_msgs_json(struct rc_buf *b, const struct seg_exchange *x)
{
	rc_buf_puts(b, "[");
	for (size_t i = 0; i < x->nmsgs && !b->oom; i++) {
		if (i)
			rc_buf_puts(b, ",");
		rc_msg_json(b, &x->msgs[i]);
	}
	rc_buf_puts(b, "]");
}

/* Payload bytes as a person reads them: text with control bytes as '?',
 * else a hex excerpt. */
static void payload_text(struct rc_buf *b, const struct seg_msg *m)
{
	size_t n = m->data_len < RC_MSG_TEXT_MAX ? m->data_len : RC_MSG_TEXT_MAX;
	if (n == 0)
		return;
	rc_buf_puts(b, "    ");
	if (m->opcode == 1 || (m->opcode == 8 && n > 2)) {
		size_t from = m->opcode == 8 ? 2 : 0;
		for (size_t i = from; i < n; i++) {
			char c = (char)m->data[i];
			rc_buf_add(b, (unsigned char)c < 0x20 || c == 0x7f ? "?" : &c, 1);
		}
	} else {
		for (size_t i = 0; i < n && i < 64; i++)
			rc_buf_printf(b, "%02x%s", m->data[i], i % 2 ? " " : "");
		if (n > 64)
			rc_buf_puts(b, "...");
	}
	if (m->data_len > n)
		rc_buf_printf(b, " ... %zu more bytes", m->data_len - n);
	rc_buf_puts(b, "\n");
}

void rc_msgs_text(struct rc_buf *b, const struct seg_exchange *x)
{
	if (x->nmsgs == 0)
		return;
	rc_buf_printf(b, "\nWebSocket messages (%zu%s):\n", x->nmsgs, x->msgs_cut ? ", more not shown" : "");
	for (size_t i = 0; i < x->nmsgs && !b->oom; i++) {
		const struct seg_msg *m = &x->msgs[i];
		char t[40], ty[16];
		rc_iso_time(m->start_ns, t, sizeof(t));
		rc_buf_printf(b, "%s %s %-6s %llu bytes", m->dir == SEG_DIR_REQ ? "->" : "<-", t,
			      rc_msg_type(m->opcode, ty, sizeof(ty)), (unsigned long long)m->len);
		if (m->opcode == 8 && m->data_len >= 2)
			rc_buf_printf(b, ", code %u", (unsigned)(m->data[0] << 8 | m->data[1]));
		if (m->deflated)
			rc_buf_printf(b, ", deflated (%llu on the wire)", (unsigned long long)m->wire_len);
		if (m->cut)
			rc_buf_printf(b, ", cut (%zu stored)", m->data_len);
		rc_buf_puts(b, "\n");
		payload_text(b, m);
	}
}
