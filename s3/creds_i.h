/* Internals of the credential chain shared by its files: creds.c (the
 * provider, local sources, INI files, region and endpoints),
 * creds_process.c (credential_process) and creds_remote.c (container
 * endpoint, instance metadata, STS web identity). Every buffer that may
 * hold a secret is wiped before it is freed. */
#ifndef TFS_CREDS_I_H
#define TFS_CREDS_I_H

#include "creds.h"
#include "status.h"

#define PROCESS_OUT_MAX	   (64 * 1024) /* credential_process output */
#define PROCESS_ERR_MAX	   4096	       /* of its stderr, logged */
#define PROCESS_TIMEOUT_MS 30000L

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

#endif
