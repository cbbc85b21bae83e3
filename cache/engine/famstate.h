/* The life of a database family on this node as a state machine: the
 * states, the events that move a family between them and the one table of
 * legal transitions. Pure data and pure functions: no lock, no I/O, so the
 * table is unit-tested on its own (tests/unit/test_famstate.c). */
#ifndef TFS_FAMSTATE_H
#define TFS_FAMSTATE_H

#include <stdbool.h>

/*
 * A family is in the engine's table (cache_i.h, struct fam) while it is
 * active here; a cached, closed, released database lives only in the state
 * database (ABSENT below). Settled states (RECOVER_WAIT, HELD, UNLEASED) are
 * where the scheduler, an open or an unlink may start something; a busy
 * state belongs to one thread or one job until it ends. A busy state
 * remembers in fam->resume the settled state it returns to when it ends; the
 * busy phase moves resume to HELD when it takes the lease and to UNLEASED
 * when it gives the lease up or loses it.
 *
 *          start: dirty row          recovery due
 *  ABSENT ------------------> RECOVER_WAIT ---------------> RECOVERING
 *   |  |                        |      ^   failed, dropped     |
 *   |  | evict                  |      +-----------------------+
 *   |  v                        |                              | recovered
 *   | EVICTING -forget-> ABSENT | open, unlink                 v
 *   |                           v                           +------+
 *   +---- open, unlink ---> OPENING,   ------ leased -----> |      |
 *                           UNLINKING  <-- open, unlink --- | HELD |
 *           failed: back to the     |                       |      |
 *           settled state it        |    write-back due     |      |
 *           came from (resume) <----+   +------------------ |      |
 *                                       v                   |      |
 *                                   WRITEBACK -- written, ->|      |
 *                                       |        dropped    |      |
 *                       lease lost:     |    release due    |      |
 *                       quarantined     |   +-------------- |      |
 *                                       |   v               +------+
 *                                       | RELEASING --dropped--^ |
 *                                       |   | released,          | lease lost
 *                                       v   v stranded           | and clean;
 *   ABSENT <--- forget (closed) ----- UNLEASED <-----------------+ shutdown
 *                                       | open, unlink
 *                                       +------------> OPENING, UNLINKING
 *
 * Inside HELD, clean and dirty are kept apart by fam->dirty (atomic: the
 * write path reads it without tc->mu, see cache_i.h), open and lingering by
 * fam->nopen; a family whose tombstone is committed (fam->unlinked) stays
 * HELD until its last handle closes. WRITEBACK's steps (snapshot, check,
 * upload, commit) are the write-back job's own (writeback.c). Quarantined
 * and stranded are outcomes, not states: a quarantined copy leaves
 * WRITEBACK (or an activation) for UNLEASED (or HELD with nothing dirty),
 * a stranded one leaves RELEASING for UNLEASED with its dirty row kept for
 * the next start.
 */
enum fam_state {
	FAM_ABSENT,	  /* not in the table (before insert, after remove) */
	FAM_RECOVER_WAIT, /* settled: dirty in the state db since the last run, no lease yet */
	FAM_RECOVERING,	  /* busy: a recovery job is queued or running */
	FAM_OPENING,	  /* busy: an open takes the lease, reconciles, faults in */
	FAM_UNLINKING,	  /* busy: an unlink takes the lease and commits a tombstone */
	FAM_EVICTING,	  /* busy: a placeholder while an eviction removes the files */
	FAM_HELD,	  /* settled: the lease is ours (open or lingering, clean or dirty) */
	FAM_WRITEBACK,	  /* busy: a write-back job is queued or running */
	FAM_RELEASING,	  /* busy: a release (or strand) job is queued or running */
	FAM_UNLEASED,	  /* settled: no lease; leaves the table at its last close */
	FAM_NSTATES
};

enum fam_event {
	FEV_START_DIRTY,   /* engine start: the state db lists it dirty */
	FEV_OPEN,	   /* an open must take the lease (none, lost, or no local file) */
	FEV_UNLINK,	   /* an unlink of the database */
	FEV_EVICT,	   /* the evictor (or `tenantfs evict`) holds a placeholder */
	FEV_RECOVERY_DUE,  /* the scheduler queues its recovery */
	FEV_WRITEBACK_DUE, /* the scheduler queues a write-back (closed, idle, max dirty, lost) */
	FEV_RELEASE_DUE,   /* the scheduler queues a release (linger over, want, unlinked) */
	FEV_LEASED,	   /* a busy phase ended holding the lease (opened, recovered, unlinked) */
	FEV_FAILED,	   /* a busy phase failed: back to resume */
	FEV_WRITTEN,	   /* a write-back ended with the lease (done, unchanged, postponed) */
	FEV_LEASE_LOST,	   /* the lease is gone: a write-back quarantined, or clean and lost */
	FEV_RELEASED,	   /* the release job released the lease (or kept it stranded) */
	FEV_DROPPED,	   /* a queued job never ran (no memory, engine stopping) */
	FEV_SHUTDOWN,	   /* tcache_shutdown released what was still held */
	FEV_FORGET,	   /* leaves the table: no lease, no handle, nothing pending */
	FEV_NEVENTS
};

/* Whether the table allows from -> to on ev. */
bool fam_transition_ok(enum fam_state from, enum fam_state to, enum fam_event ev);
/* Whether s belongs to one thread or job until it ends (see above). */
bool fam_state_busy(enum fam_state s);
const char *fam_state_str(enum fam_state s);
const char *fam_event_str(enum fam_event ev);

#endif
