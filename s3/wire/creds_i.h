/* Internals of the credential chain shared by its files: creds.c (the
 * provider, local sources, INI files, region and endpoints),
 * creds_process.c (credential_process) and creds_remote.c (container
 * endpoint, instance metadata, STS web identity). Every buffer that may
 * hold a secret is wiped before it is freed. */
#ifndef TFS_CREDS_I_H
#define TFS_CREDS_I_H

#include <stddef.h>
#include <stdint.h>

#include "s3/wire/creds.h"
#include "s3/wire/status.h"

#define META_MAX_BYTES	   (64 * 1024) /* a metadata reply is a few hundred bytes */
#define META_CONNECT_MS	   1000L
#define META_TOTAL_MS	   3000L
#define CONTAINER_HOST	   "http://169.254.170.2"
#define IMDS_TOKEN_TTL	   "21600"
#define STS_TOTAL_MS	   10000L      /* STS is a regional service, not a local agent */
#define WEB_TOKEN_MAX	   (64 * 1024) /* STS takes tokens of up to 20000 bytes */
#define PROCESS_OUT_MAX	   (64 * 1024) /* credential_process output */
#define PROCESS_ERR_MAX	   4096	       /* of its stderr, logged */
#define PROCESS_TIMEOUT_MS 30000L

/* ---- small helpers (creds.c) ---- */

/* Wipes and frees a string that may hold a secret (NULL is fine). */
void creds_wipe_free(char *s);
/* Fills *c from three strings (token may be NULL or empty); WIRE_NOMEM. */
enum wire_status creds_set(struct aws_creds *c, const char *ak, const char *sk, const char *token,
			   int64_t expires_ms);
/* getenv() that treats an empty value as unset. */
const char *creds_env(const char *name);
/* s without leading and trailing blanks (in place). */
char *creds_trim(char *s);
/* Reads a whole small file; 0, -ENOENT, -EFBIG or another -errno. The
 * buffer may hold secrets: the caller wipes it (creds_wipe_free). */
int creds_read_small_file(const char *path, size_t max, char **out);

/* $NAME if set, else $HOME/<rel>; "~/" at the start expanded. Malloc'ed or
 * NULL (no HOME, ENOMEM). */
char *creds_aws_file(const char *var, const char *rel);

/* Looks key up in the profile's section of an INI file. Returns 0 with
 * *out malloc'ed, or 0 with *out NULL when the file, the section or the key
 * is absent; -errno when the file exists but cannot be read. */
int creds_ini_get(const char *path, const char *profile, int is_config, const char *key,
		  char **out);

/* The JSON the services answer with: AccessKeyId, SecretAccessKey, Token,
 * Expiration (and Code from IMDS); a credential_process names the token
 * SessionToken (token_field). what names the source in log lines. */
enum wire_status creds_from_json(const char *body, const char *what, const char *token_field,
				 struct aws_creds *out);

/* The profile's credential_process, run within timeout_ms
 * (creds_process.c). WIRE_NO_CREDENTIALS when the profile has none. */
enum wire_status creds_from_profile_process(const char *profile, long timeout_ms,
					    struct aws_creds *out);

/* ---- remote sources (creds_remote.c) ---- */

/* The container credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI
 * or _RELATIVE_URI, with its authorization token); ca_file for https. */
enum wire_status creds_from_container(const char *ca_file, struct aws_creds *out);
/* EC2 instance metadata at base, IMDSv2 (a session token first). */
enum wire_status creds_from_imds(const char *base, struct aws_creds *out);
/* STS AssumeRoleWithWebIdentity with the profile's or the environment's
 * role and token file; now_ms names the session. */
enum wire_status creds_from_web_identity(const char *profile, const char *region,
					 const char *ca_file, int64_t now_ms,
					 struct aws_creds *out);

#endif
