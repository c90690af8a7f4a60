/* persist/ioq.c: the segment writer's io queue (persist/segment.c fills
 * it): writes, fsyncs and opens, which the owner performs one at a time,
 * in queue order (seg_writer_next_io, seg_writer_io_done; seg_io_sync with
 * plain system calls), so that an index entry never reaches the disk
 * before the frame it points to.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "persist/writer-int.h"
#include "rc-assert.h"

/* The fd of the current file of kind k (enum seg_kind). */
int *seg_w_kind_fd(struct seg_writer *w, int k)
{
	if (k == SEG_K_SEG)
		return &w->fd_seg;
	if (k == K_DIO)
		return &w->fd_dio;
	return k == SEG_K_IDX ? &w->fd_idx : &w->fd_str;
}

struct qio *seg_w_queue_push(struct seg_writer *w, int fd, bool fsync, const void *buf,
			     uint32_t len, uint64_t off, int8_t free_slot, bool close_after)
{
	ASSERT(w->q_len < QUEUE_LEN); /* sized by the _Static_assert of writer-int.h */
	struct qio *q = &w->queue[(w->q_head + w->q_len) % QUEUE_LEN];
	q->io = (struct seg_io){ .fd = fd, .fsync = fsync, .buf = buf, .len = len, .off = off };
	q->free_slot = free_slot;
	q->close_after = close_after;
	q->late_k = q->open_k = -1;
	q->sync_mark = 0;
	w->q_len++;
	return q;
}

/* A write to the current file of kind k: its fd is bound when next_io
 * hands it out, after every io queued before it (a rotation's open among
 * them) has completed. */
void seg_w_queue_late(struct seg_writer *w, int k, const void *buf, uint32_t len,
		      uint64_t off, int8_t free_slot)
{
	seg_w_queue_push(w, -1, false, buf, len, off, free_slot, false)->late_k = (int8_t)k;
}

/* Closes a finished segment's fd; a current-file slot still naming it
 * (its rotation's open has not landed) forgets it, so nothing closes the
 * number twice. */
void seg_w_close_old(struct seg_writer *w, int fd)
{
	for (int k = 0; k < 4; k++)
		if (*seg_w_kind_fd(w, k) == fd)
			*seg_w_kind_fd(w, k) = -1;
	close(fd);
}

/* After a failed write nothing more is written: queued ios are dropped,
 * their slots freed and the fds of finished segments closed. */
static void drop_queue(struct seg_writer *w)
{
	for (uint32_t guard = 0; guard < QUEUE_LEN && w->q_len > 0; guard++) {
		struct qio *q = &w->queue[w->q_head];
		if (q->free_slot >= 0)
			w->slots[q->free_slot].busy = false;
		if (q->close_after)
			seg_w_close_old(w, q->io.fd);
		if (q->open_k >= 0)
			w->opening--;
		w->q_head = (w->q_head + 1) % QUEUE_LEN;
		w->q_len--;
	}
}

const struct seg_io *seg_writer_next_io(struct seg_writer *w)
{
	if (w->failed && !w->in_flight)
		drop_queue(w);
	if (w->cfg.sync && !w->failed && w->sync_queued == w->synced && w->synced < w->ends)
		seg_w_commit(w);
	if (w->in_flight || w->q_len == 0)
		return NULL;
	struct qio *q = &w->queue[w->q_head];
	if (q->late_k >= 0) {
		q->io.fd = *seg_w_kind_fd(w, q->late_k);
		ASSERT(q->io.fd >= 0); /* its open completed (else the writer failed) */
	}
	w->in_flight = true;
	return &q->io;
}

/* Takes the completed head io off the queue. */
static void queue_pop(struct seg_writer *w, struct qio *q)
{
	if (q->sync_mark > w->synced && !w->failed)
		w->synced = q->sync_mark;
	if (q->free_slot >= 0)
		w->slots[q->free_slot].busy = false;
	if (q->close_after)
		seg_w_close_old(w, q->io.fd);
	w->q_head = (w->q_head + 1) % QUEUE_LEN;
	w->q_len--;
}

void seg_writer_io_done(struct seg_writer *w, int res)
{
	ASSERT(w->in_flight);
	ASSERT(w->q_len > 0);
	struct qio *q = &w->queue[w->q_head];
	w->in_flight = false;
	if (res < 0 && !w->failed)
		w->failed = res;
	if (q->open_k >= 0) {
		ASSERT(w->opening > 0);
		w->opening--;
		if (res >= 0)
			*seg_w_kind_fd(w, q->open_k) = res; /* closed by the next rotation or close */
		queue_pop(w, q);
		return;
	}
	if (res >= 0 && !q->io.fsync && (uint32_t)res < q->io.len) {
		if (res == 0 && !w->failed)
			w->failed = -ENOSPC; /* a zero-byte write makes no progress */
		q->io.buf = (const uint8_t *)q->io.buf + res;
		q->io.len -= (uint32_t)res;
		q->io.off += (uint64_t)res;
		if (!w->failed)
			return; /* re-offered by next_io */
	}
	queue_pop(w, q);
}

bool seg_writer_busy(const struct seg_writer *w)
{
	return w->q_len > 0 || (w->cfg.sync && !w->failed && w->synced < w->ends);
}

int seg_io_sync(const struct seg_io *io)
{
	if (io->path) {
		int fd = open(io->path, io->open_flags, (mode_t)io->open_mode);
		return fd < 0 ? -errno : fd;
	}
	if (io->fsync)
		return fsync(io->fd) < 0 ? -errno : 0;
	ssize_t r = pwrite(io->fd, io->buf, io->len, (off_t)io->off);
	return r < 0 ? -errno : (int)r;
}
