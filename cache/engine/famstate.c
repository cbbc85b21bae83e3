/* The table of a family's legal transitions (famstate.h) and fam_set, the
 * one function that moves a family from one state to another. */
#include "cache/engine/famstate.h"

#include <assert.h>
#include <stddef.h>

#include "cache/engine/cache_i.h"
#include "s3/base/log.h"

struct fam_transition {
	enum fam_state from, to;
	enum fam_event ev;
};

/* Every legal transition, and the event that causes it. */
static const struct fam_transition fam_table[] = {
    {FAM_ABSENT, FAM_RECOVER_WAIT, FEV_START_DIRTY},
    {FAM_ABSENT, FAM_OPENING, FEV_OPEN},
    {FAM_ABSENT, FAM_UNLINKING, FEV_UNLINK},
    {FAM_ABSENT, FAM_EVICTING, FEV_EVICT},

    {FAM_RECOVER_WAIT, FAM_RECOVERING, FEV_RECOVERY_DUE},
    {FAM_RECOVER_WAIT, FAM_OPENING, FEV_OPEN},
    {FAM_RECOVER_WAIT, FAM_UNLINKING, FEV_UNLINK},

    {FAM_RECOVERING, FAM_HELD, FEV_LEASED},
    {FAM_RECOVERING, FAM_RECOVER_WAIT, FEV_FAILED},
    {FAM_RECOVERING, FAM_RECOVER_WAIT, FEV_DROPPED},

    /* A failed open goes back where it came from (fam->resume). */
    {FAM_OPENING, FAM_HELD, FEV_LEASED},
    {FAM_OPENING, FAM_HELD, FEV_FAILED},
    {FAM_OPENING, FAM_RECOVER_WAIT, FEV_FAILED},
    {FAM_OPENING, FAM_UNLEASED, FEV_FAILED},

    /* An unlink that took the lease keeps it, tombstone committed or not. */
    {FAM_UNLINKING, FAM_HELD, FEV_LEASED},
    {FAM_UNLINKING, FAM_HELD, FEV_FAILED},
    {FAM_UNLINKING, FAM_RECOVER_WAIT, FEV_FAILED},
    {FAM_UNLINKING, FAM_UNLEASED, FEV_FAILED},

    {FAM_EVICTING, FAM_ABSENT, FEV_FORGET},

    {FAM_HELD, FAM_OPENING, FEV_OPEN},
    {FAM_HELD, FAM_UNLINKING, FEV_UNLINK},
    {FAM_HELD, FAM_WRITEBACK, FEV_WRITEBACK_DUE},
    {FAM_HELD, FAM_RELEASING, FEV_RELEASE_DUE},
    {FAM_HELD, FAM_UNLEASED, FEV_LEASE_LOST},
    {FAM_HELD, FAM_UNLEASED, FEV_SHUTDOWN},

    {FAM_WRITEBACK, FAM_HELD, FEV_WRITTEN},
    {FAM_WRITEBACK, FAM_HELD, FEV_DROPPED},
    {FAM_WRITEBACK, FAM_UNLEASED, FEV_LEASE_LOST},

    {FAM_RELEASING, FAM_UNLEASED, FEV_RELEASED},
    {FAM_RELEASING, FAM_HELD, FEV_DROPPED},

    {FAM_UNLEASED, FAM_OPENING, FEV_OPEN},
    {FAM_UNLEASED, FAM_UNLINKING, FEV_UNLINK},
    {FAM_UNLEASED, FAM_ABSENT, FEV_FORGET},
};

bool fam_transition_ok(enum fam_state from, enum fam_state to, enum fam_event ev)
{
	size_t i;

	for (i = 0; i < sizeof(fam_table) / sizeof(fam_table[0]); i++)
		if (fam_table[i].from == from && fam_table[i].to == to && fam_table[i].ev == ev)
			return true;
	return false;
}

bool fam_state_busy(enum fam_state s)
{
	switch (s) {
	case FAM_RECOVERING:
	case FAM_OPENING:
	case FAM_UNLINKING:
	case FAM_EVICTING:
	case FAM_WRITEBACK:
	case FAM_RELEASING: return true;
	default: return false;
	}
}

const char *fam_state_str(enum fam_state s)
{
	static const char *const names[FAM_NSTATES] = {
	    [FAM_ABSENT] = "absent",
	    [FAM_RECOVER_WAIT] = "recover-wait",
	    [FAM_RECOVERING] = "recovering",
	    [FAM_OPENING] = "opening",
	    [FAM_UNLINKING] = "unlinking",
	    [FAM_EVICTING] = "evicting",
	    [FAM_HELD] = "held",
	    [FAM_WRITEBACK] = "writeback",
	    [FAM_RELEASING] = "releasing",
	    [FAM_UNLEASED] = "unleased",
	};

	return (unsigned)s < FAM_NSTATES ? names[s] : "?";
}

const char *fam_event_str(enum fam_event ev)
{
	static const char *const names[FEV_NEVENTS] = {
	    [FEV_START_DIRTY] = "start-dirty",
	    [FEV_OPEN] = "open",
	    [FEV_UNLINK] = "unlink",
	    [FEV_EVICT] = "evict",
	    [FEV_RECOVERY_DUE] = "recovery-due",
	    [FEV_WRITEBACK_DUE] = "writeback-due",
	    [FEV_RELEASE_DUE] = "release-due",
	    [FEV_LEASED] = "leased",
	    [FEV_FAILED] = "failed",
	    [FEV_WRITTEN] = "written",
	    [FEV_LEASE_LOST] = "lease-lost",
	    [FEV_RELEASED] = "released",
	    [FEV_DROPPED] = "dropped",
	    [FEV_SHUTDOWN] = "shutdown",
	    [FEV_FORGET] = "forget",
	};

	return (unsigned)ev < FEV_NEVENTS ? names[ev] : "?";
}

void fam_set(struct tcache *tc, struct fam *fam, enum fam_state to, enum fam_event ev)
{
	bool ok = fam_transition_ok(fam->state, to, ev);

	assert(tc_mu_held(tc));
	if (!ok)
		log_err("%s: transition %s -> %s on %s is not in the table", fam->id,
			fam_state_str(fam->state), fam_state_str(to), fam_event_str(ev));
	assert(ok);
	/* Entering a busy state from a settled one: remember where it returns. */
	if (fam_state_busy(to) && !fam_state_busy(fam->state))
		fam->resume = fam->state == FAM_ABSENT ? FAM_UNLEASED : fam->state;
	fam->state = to;
}

void fam_end(struct tcache *tc, struct fam *fam, enum fam_event ev)
{
	assert(fam_state_busy(fam->state));
	fam_set(tc, fam, fam->resume, ev);
}
