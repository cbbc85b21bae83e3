/* Unit tests of a family's state machine (cache/engine/famstate.h): the table
 * allows exactly the transitions listed here and refuses every other
 * (state, state, event) triple; a busy state can always go back where it was
 * entered from; fam_set records resume and aborts (assert) on a transition
 * that is not in the table. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cache/engine/activate_i.h"
#include "cache/engine/cache_i.h"
#include "cache/engine/famstate.h"
#include "s3/base/log.h"
#include "tests/unit/tap.h"

/* What the design (DESIGN.md "Life of a database on one node", and the
 * diagram in famstate.h) allows, written out again independently of the
 * table in famstate.c. */
static const char *const allowed[] = {
    "absent recover-wait start-dirty",
    "absent opening open",
    "absent unlinking unlink",
    "absent evicting evict",
    "recover-wait recovering recovery-due",
    "recover-wait opening open",
    "recover-wait unlinking unlink",
    "recovering held leased",
    "recovering recover-wait failed",
    "recovering recover-wait dropped",
    "opening held leased",
    "opening held failed",
    "opening recover-wait failed",
    "opening unleased failed",
    "unlinking held leased",
    "unlinking held failed",
    "unlinking recover-wait failed",
    "unlinking unleased failed",
    "evicting absent forget",
    "held opening open",
    "held unlinking unlink",
    "held writeback writeback-due",
    "held releasing release-due",
    "held unleased lease-lost",
    "held unleased shutdown",
    "writeback held written",
    "writeback held dropped",
    "writeback unleased lease-lost",
    "releasing unleased released",
    "releasing held dropped",
    "unleased opening open",
    "unleased unlinking unlink",
    "unleased absent forget",
};
#define NALLOWED (sizeof(allowed) / sizeof(allowed[0]))

static bool listed(enum fam_state from, enum fam_state to, enum fam_event ev)
{
	char key[128];
	size_t i;

	snprintf(key, sizeof(key), "%s %s %s", fam_state_str(from), fam_state_str(to),
		 fam_event_str(ev));
	for (i = 0; i < NALLOWED; i++)
		if (!strcmp(allowed[i], key))
			return true;
	return false;
}

static void test_table(void)
{
	int from, to, ev, n_ok = 0, n_refused, bad;

	for (from = 0; from < FAM_NSTATES; from++) {
		n_refused = 0;
		bad = 0;
		for (to = 0; to < FAM_NSTATES; to++) {
			for (ev = 0; ev < FEV_NEVENTS; ev++) {
				bool want = listed(from, to, ev);
				bool got = fam_transition_ok(from, to, ev);

				if (want != got) {
					bad++;
					TAP_OK(0, "%s -> %s on %s: table says %s, design says %s",
					       fam_state_str(from), fam_state_str(to),
					       fam_event_str(ev), got ? "allowed" : "refused",
					       want ? "allowed" : "refused");
				} else if (want) {
					n_ok++;
					TAP_OK(1, "allowed: %s -> %s on %s", fam_state_str(from),
					       fam_state_str(to), fam_event_str(ev));
				} else {
					n_refused++;
				}
			}
		}
		TAP_OK(bad == 0, "from %s: the %d other transitions are refused",
		       fam_state_str(from), n_refused);
	}
	TAP_OK(n_ok == (int)NALLOWED, "every listed transition is in the table (%d of %zu)", n_ok,
	       NALLOWED);
	TAP_OK(!fam_transition_ok(FAM_NSTATES, FAM_ABSENT, FEV_FORGET) &&
		   !fam_transition_ok(FAM_ABSENT, FAM_OPENING, FEV_NEVENTS),
	       "out-of-range states and events are refused");
}

/* Every state and event has a name: the log line of a refused transition
 * names them. */
static void test_names(void)
{
	int i, unnamed = 0;

	for (i = 0; i < FAM_NSTATES; i++)
		unnamed += !fam_state_str(i) || !strcmp(fam_state_str(i), "?");
	for (i = 0; i < FEV_NEVENTS; i++)
		unnamed += !fam_event_str(i) || !strcmp(fam_event_str(i), "?");
	TAP_OK(unnamed == 0, "every state and event has a name (%d unnamed)", unnamed);
}

/* A busy state entered from a settled one can end back there (fam_end goes
 * to resume): an open, unlink or job that fails or never runs leaves the
 * family as it found it. The evictor's placeholder only ever leaves the
 * table. */
static void test_resume_reachable(void)
{
	int from, to, ev, back, missing = 0;

	for (from = 0; from < FAM_NSTATES; from++) {
		if (fam_state_busy(from))
			continue;
		for (to = 0; to < FAM_NSTATES; to++) {
			bool entered = false, returns = false;

			if (!fam_state_busy(to) || to == FAM_EVICTING)
				continue;
			for (ev = 0; ev < FEV_NEVENTS; ev++)
				entered |= fam_transition_ok(from, to, ev);
			if (!entered)
				continue;
			back = from == FAM_ABSENT ? FAM_UNLEASED : from;
			returns = fam_transition_ok(to, back, FEV_FAILED) ||
				  fam_transition_ok(to, back, FEV_DROPPED);
			if (!returns) {
				missing++;
				TAP_OK(0, "%s entered from %s cannot go back to %s",
				       fam_state_str(to), fam_state_str(from), fam_state_str(back));
			}
		}
	}
	TAP_OK(missing == 0, "every busy state can go back to the settled state it came from");
}

static struct tcache *tc_alloc(void)
{
	struct tcache *tc = calloc(1, sizeof(*tc));

	if (!tc) {
		printf("Bail out! calloc\n");
		exit(1);
	}
	tfs_mutex_init(&tc->mu);
	return tc;
}

/* fam_set records where a busy state returns, and fam_end goes there. */
static void test_fam_set(void)
{
	struct tcache *tc = tc_alloc();
	struct fam fam;

	memset(&fam, 0, sizeof(fam));
	snprintf(fam.id, sizeof(fam.id), "t");
	tfs_mutex_lock(&tc->mu);
	fam_set(tc, &fam, FAM_OPENING, FEV_OPEN);
	TAP_OK(fam.state == FAM_OPENING && fam.resume == FAM_UNLEASED,
	       "an open of a new family returns to unleased if it fails");
	fam_end(tc, &fam, FEV_FAILED);
	TAP_OK(fam.state == FAM_UNLEASED, "a failed open leaves it unleased");
	fam_set(tc, &fam, FAM_OPENING, FEV_OPEN);
	fam.resume = FAM_HELD; /* what tc_fam_activate does once leased */
	fam_end(tc, &fam, FEV_LEASED);
	TAP_OK(fam.state == FAM_HELD, "an open that took the lease leaves it held");
	fam_set(tc, &fam, FAM_WRITEBACK, FEV_WRITEBACK_DUE);
	TAP_OK(fam.resume == FAM_HELD && fam_leased(&fam) && fam_job(&fam) && !fam_exclusive(&fam),
	       "a write-back holds the lease and is a job");
	fam.resume = FAM_UNLEASED; /* the write-back found the lease lost */
	TAP_OK(!fam_leased(&fam), "a write-back that lost the lease no longer holds it");
	fam_end(tc, &fam, FEV_LEASE_LOST);
	TAP_OK(fam.state == FAM_UNLEASED && !fam_leased(&fam), "... and ends unleased");
	fam_set(tc, &fam, FAM_ABSENT, FEV_FORGET);
	fam_set(tc, &fam, FAM_RECOVER_WAIT, FEV_START_DIRTY);
	TAP_OK(fam_recovery_due(&fam) && !fam_leased(&fam),
	       "a dirty row at start waits for recovery");
	fam_set(tc, &fam, FAM_OPENING, FEV_OPEN);
	TAP_OK(fam_recovery_due(&fam) && fam_exclusive(&fam) && fam.resume == FAM_RECOVER_WAIT,
	       "an open of it is exclusive, and recovery is still due until it leases");
	fam_end(tc, &fam, FEV_FAILED);
	TAP_OK(fam.state == FAM_RECOVER_WAIT, "a failed open leaves it waiting for recovery");
	tfs_mutex_unlock(&tc->mu);
	tfs_mutex_destroy(&tc->mu);
	free(tc);
}

/* Runs fn in a child; true when it died of SIGABRT (a failed assert). */
static bool aborts(void (*fn)(void))
{
	pid_t pid = fork();
	int status = 0;

	if (pid == 0) {
		/* no core file, and the log line of the refusal is expected */
		fclose(stderr);
		fn();
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return false;
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

/* These two break the rules on purpose, for the asserts to catch: out of
 * clang's analysis (make tsa), which would refuse them. */
static void illegal_transition(void) NO_THREAD_SAFETY_ANALYSIS
{
	struct tcache *tc = tc_alloc();
	struct fam fam;

	memset(&fam, 0, sizeof(fam));
	tfs_mutex_lock(&tc->mu);
	fam_set(tc, &fam, FAM_HELD, FEV_LEASED); /* absent -> held: not in the table */
}

static void unlocked_transition(void) NO_THREAD_SAFETY_ANALYSIS
{
	struct tcache *tc = tc_alloc();
	struct fam fam;

	memset(&fam, 0, sizeof(fam));
	fam_set(tc, &fam, FAM_OPENING, FEV_OPEN); /* legal, but tc->mu not held */
}

static void legal_transition(void)
{
	struct tcache *tc = tc_alloc();
	struct fam fam;

	memset(&fam, 0, sizeof(fam));
	tfs_mutex_lock(&tc->mu);
	fam_set(tc, &fam, FAM_OPENING, FEV_OPEN);
	tfs_mutex_unlock(&tc->mu);
}

int main(void)
{
	tfs_log_set_level(LOG_CRIT);
	test_table();
	test_names();
	test_resume_reachable();
	test_fam_set();
	TAP_OK(aborts(illegal_transition), "a transition not in the table aborts (assert)");
	TAP_OK(aborts(unlocked_transition), "a transition without tc->mu held aborts (assert)");
	TAP_OK(!aborts(legal_transition), "a legal transition under tc->mu does not");
	return TAP_DONE();
}
