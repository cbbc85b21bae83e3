/* The credential chain's credential_process source (creds_i.h): the
 * profile's command, split like the AWS CLI does (no shell), run with a
 * timeout, its JSON output read capped and wiped, its stderr logged
 * without the secret. */
#include "s3/wire/creds.h"
#include "s3/wire/creds_i.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "s3/base/clock.h"
#include "s3/base/log.h"

/* ---- credential_process: a command of the profile prints the keys ---- */

/* Splits a credential_process command the way the AWS CLI does on POSIX
 * (Python's shlex.split; no shell, no variables, no "~"): blanks separate
 * words, "..." and '...' group, a backslash outside single quotes takes the
 * next character literally. buf holds strlen(cmd) + 1 bytes, argv max
 * pointers. The word count, -EINVAL for an unclosed quote, -E2BIG. */
static int split_command(const char *cmd, char *buf, char **argv, size_t max)
{
	const char *p = cmd;
	char *o = buf;
	size_t argc = 0;

	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		if (argc + 1 >= max)
			return -E2BIG;
		argv[argc++] = o;
		while (*p && *p != ' ' && *p != '\t') {
			if (*p == '\'') {
				const char *e = strchr(p + 1, '\'');

				if (!e)
					return -EINVAL;
				memcpy(o, p + 1, (size_t)(e - p - 1));
				o += e - p - 1;
				p = e + 1;
			} else if (*p == '"') {
				for (p++; *p && *p != '"'; p++) {
					if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
						p++;
					*o++ = *p;
				}
				if (!*p)
					return -EINVAL;
				p++;
			} else if (*p == '\\' && p[1]) {
				*o++ = p[1];
				p += 2;
			} else {
				*o++ = *p++;
			}
		}
		*o++ = '\0';
	}
	argv[argc] = NULL;
	return (int)argc;
}

/* Reads what is there on fd into buf (len bytes used, cap max); past max
 * the rest is read and dropped. 1 at EOF, 0 otherwise. */
static int drain(int fd, char *buf, size_t *len, size_t max, int *overflow)
{
	char tmp[4096];
	ssize_t n;

	do
		n = read(fd, tmp, sizeof(tmp));
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n == 0 || errno != EAGAIN;
	if (*len + (size_t)n > max) {
		*overflow = 1;
		n = (ssize_t)(max - *len);
	}
	memcpy(buf + *len, tmp, (size_t)n);
	*len += (size_t)n;
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return 0;
}

/* Logs what the command wrote on stderr, a line at a time, withholding any
 * line that holds the secret or the token it printed. */
static void log_process_stderr(const char *profile, char *text, const struct aws_creds *c,
			       int level)
{
	char *save = NULL;

	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if ((c->secret_key && strstr(l, c->secret_key)) ||
		    (c->session_token && strstr(l, c->session_token)))
			tfs_log(level,
				"credential_process of profile %s: (a line holding the "
				"secret withheld)",
				profile);
		else
			tfs_log(level, "credential_process of profile %s says: %s", profile, l);
	}
}

/* Runs the command with stdin on /dev/null, its stdout (the JSON, capped)
 * and stderr (logged, capped) on pipes, killed past timeout_ms.
 * Long because spawning, feeding both pipes within the timeout, and killing the group are one
 * sequence that must release every descriptor at one exit. */
static enum wire_status creds_from_process(const char *cmd, const char *profile, long timeout_ms,
					   struct aws_creds *out)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char *buf = NULL, **argv = NULL, *obuf = NULL, ebuf[PROCESS_ERR_MAX + 1];
	size_t max = strlen(cmd) / 2 + 2, olen = 0, elen = 0;
	int op[2] = {-1, -1}, ep[2] = {-1, -1}, o_over = 0, e_over = 0, o_eof = 0, e_eof = 0;
	int rc, ws = 0, timed_out = 0, have_fa = 0, have_attr = 0;
	enum wire_status st = WIRE_NOMEM;
	int64_t deadline = tfs_mono_ms() + timeout_ms;
	json_t *j = NULL;
	pid_t pid = -1;

	buf = malloc(strlen(cmd) + 1);
	argv = calloc(max, sizeof(*argv));
	obuf = malloc(PROCESS_OUT_MAX + 1);
	if (!buf || !argv || !obuf)
		goto out;
	rc = split_command(cmd, buf, argv, max);
	if (rc <= 0) {
		log_err("cannot run credential_process of profile %s: %s", profile,
			rc == 0 ? "empty command" : "unclosed quote");
		st = WIRE_INVALID;
		goto out;
	}
	if (pipe2(op, O_CLOEXEC | O_NONBLOCK) < 0 || pipe2(ep, O_CLOEXEC | O_NONBLOCK) < 0 ||
	    posix_spawn_file_actions_init(&fa)) {
		log_err("cannot run credential_process of profile %s: %s", profile,
			strerror(errno));
		st = WIRE_LOCAL_IO;
		goto out;
	}
	have_fa = 1;
	if (posix_spawnattr_init(&attr))
		goto out;
	have_attr = 1;
	/* Its own process group: a timeout kills what it started as well. */
	if (posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP) ||
	    posix_spawnattr_setpgroup(&attr, 0) ||
	    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) ||
	    posix_spawn_file_actions_adddup2(&fa, op[1], 1) ||
	    posix_spawn_file_actions_adddup2(&fa, ep[1], 2))
		goto out;
	rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
	if (rc) {
		pid = -1;
		log_err("cannot run credential_process '%s' of profile %s: %s", argv[0], profile,
			strerror(rc));
		st = WIRE_LOCAL_IO;
		goto out;
	}
	close(op[1]);
	close(ep[1]);
	op[1] = ep[1] = -1;
	while (!o_eof || !e_eof) {
		struct pollfd pf[2] = {{o_eof ? -1 : op[0], POLLIN, 0},
				       {e_eof ? -1 : ep[0], POLLIN, 0}};
		int64_t left = deadline - tfs_mono_ms();

		if (left <= 0) {
			timed_out = 1;
			break;
		}
		rc = poll(pf, 2, (int)(left > 1000 ? 1000 : left));
		if (rc < 0 && errno != EINTR)
			break;
		if (rc <= 0)
			continue;
		if (!o_eof && pf[0].revents)
			o_eof = drain(op[0], obuf, &olen, PROCESS_OUT_MAX, &o_over);
		if (!e_eof && pf[1].revents)
			e_eof = drain(ep[0], ebuf, &elen, PROCESS_ERR_MAX, &e_over);
	}
	obuf[olen] = '\0';
	ebuf[elen] = '\0';
	if (timed_out || !o_eof || !e_eof)
		kill(-pid, SIGKILL);
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	pid = -1;
	if (timed_out) {
		log_err("cannot get credentials from credential_process of profile %s: killed "
			"after %ld ms",
			profile, timeout_ms);
		st = WIRE_TIMEOUT;
		goto out;
	}
	if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
		log_process_stderr(profile, ebuf, out, LOG_ERR);
		if (WIFEXITED(ws))
			log_err("cannot get credentials from credential_process of profile %s: "
				"it exited with status %d",
				profile, WEXITSTATUS(ws));
		else
			log_err("cannot get credentials from credential_process of profile %s: "
				"it died of signal %d",
				profile, WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
		st = WIRE_AUTH;
		goto out;
	}
	if (o_over) {
		log_err("cannot read credential_process output of profile %s: over %d bytes",
			profile, PROCESS_OUT_MAX);
		st = WIRE_BAD_RESPONSE;
		goto out;
	}
	j = json_loads(obuf, 0, NULL);
	if (!j || json_integer_value(json_object_get(j, "Version")) != 1 ||
	    !json_is_integer(json_object_get(j, "Version"))) {
		log_err("cannot read credential_process output of profile %s: %s", profile,
			j ? "not Version 1" : "not json");
		st = WIRE_BAD_RESPONSE;
	} else {
		st = creds_from_json(obuf, "credential_process", "SessionToken", out);
		if (st != WIRE_OK)
			log_err("cannot read credential_process output of profile %s", profile);
	}
	log_process_stderr(profile, ebuf, out, LOG_NOTICE);
	if (st == WIRE_OK)
		log_debug("credentials from credential_process of profile %s", profile);
out:
	if (pid > 0) {
		kill(-pid, SIGKILL);
		while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
			;
	}
	if (have_fa)
		posix_spawn_file_actions_destroy(&fa);
	if (have_attr)
		posix_spawnattr_destroy(&attr);
	for (int i = 0; i < 2; i++) {
		if (op[i] >= 0)
			close(op[i]);
		if (ep[i] >= 0)
			close(ep[i]);
	}
	json_decref(j);
	if (obuf) {
		OPENSSL_cleanse(obuf, PROCESS_OUT_MAX + 1);
		free(obuf);
	}
	OPENSSL_cleanse(ebuf, sizeof(ebuf));
	free(argv);
	free(buf);
	if (st != WIRE_OK)
		aws_creds_clear(out);
	return st;
}

/* The profile's credential_process from the config file, run when set. */
enum wire_status creds_from_profile_process(const char *profile, long timeout_ms,
					    struct aws_creds *out)
{
	char *path = creds_aws_file("AWS_CONFIG_FILE", ".aws/config"), *cmd = NULL;
	enum wire_status st = WIRE_NO_CREDENTIALS;

	if (!path)
		return WIRE_NO_CREDENTIALS;
	if (creds_ini_get(path, profile, 1, "credential_process", &cmd))
		st = WIRE_LOCAL_IO;
	else if (cmd && *cmd)
		st = creds_from_process(cmd, profile, timeout_ms, out);
	free(cmd);
	free(path);
	return st;
}
