/* Credentials and endpoints: the usual AWS chain (environment, shared
 * credentials and config files with AWS_PROFILE, container credentials
 * endpoint, EC2 instance metadata with IMDSv2) and the region/endpoint
 * environment variables. Temporary credentials are refreshed before they
 * expire. Secrets are wiped on free and never logged. */
#ifndef TFS_CREDS_H
#define TFS_CREDS_H

#include <stdint.h>

#include "s3/wire/status.h"

struct aws_creds {
	char *access_key;
	char *secret_key;
	char *session_token; /* NULL unless temporary */
	int64_t expires_ms;  /* wall clock ms since the epoch; 0 = does not expire */
};

/* Wipes and frees the strings; the struct itself is the caller's. */
void aws_creds_clear(struct aws_creds *c);

struct cred_provider;

struct cred_options {
	const char *profile;	/* NULL: AWS_PROFILE, then "default" */
	const char *access_key; /* explicit static credentials, used first when set */
	const char *secret_key;
	const char *session_token;
	int disable_imds;	   /* skip EC2 instance metadata (tests, laptops) */
	const char *imds_endpoint; /* NULL: AWS_EC2_METADATA_SERVICE_ENDPOINT or 169.254.169.254 */
	const char *region;	   /* of STS for web identity; NULL: aws_resolve_region() */
	const char *ca_file;	   /* CA bundle for STS and the container endpoint (see
				    * aws_resolve_ca_bundle); NULL: the system's */
	long process_timeout_ms;   /* credential_process is killed past it; 0: 30 s */
	int64_t (*now_ms)(void);   /* wall clock, injectable; NULL: real clock */
};

/* Builds the default chain. Never fails for an empty chain: the first
 * cred_provider_get() says WIRE_NO_CREDENTIALS. NULL only on ENOMEM.
 * Order: explicit keys; AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+
 * AWS_SESSION_TOKEN); web identity (AWS_WEB_IDENTITY_TOKEN_FILE +
 * AWS_ROLE_ARN [+ AWS_ROLE_SESSION_NAME], else the profile's
 * web_identity_token_file + role_arn [+ role_session_name]) through an
 * unsigned STS AssumeRoleWithWebIdentity at AWS_ENDPOINT_URL_STS or
 * https://sts.<region>.amazonaws.com, the token file read at each fetch;
 * the profile's keys in AWS_SHARED_CREDENTIALS_FILE (default
 * ~/.aws/credentials, [name]); the profile's credential_process in
 * AWS_CONFIG_FILE (~/.aws/config, [profile name] or [default]), split into
 * words like the AWS CLI does (no shell), run with a timeout, its stderr
 * logged, its JSON (Version 1) read; the profile's keys in the config
 * file; AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or
 * _FULL_URI (plain http only to loopback and the container agent) with
 * AWS_CONTAINER_AUTHORIZATION_TOKEN or _TOKEN_FILE; IMDSv2 unless disabled
 * or AWS_EC2_METADATA_DISABLED=true. A configured source that fails ends
 * the chain with its status; an unreachable IMDS means "no credentials"
 * unless it served this provider before. */
struct cred_provider *cred_provider_new(const struct cred_options *opt);
void cred_provider_free(struct cred_provider *p);

/* A copy of the current credentials into *out (caller clears it with
 * aws_creds_clear). Thread-safe; no lock is held while fetching. Refreshes
 * temporary credentials within five minutes of expiry; while another
 * thread refreshes, or when a refresh fails, the current ones are returned
 * as long as they have not expired. */
enum wire_status cred_provider_get(struct cred_provider *p, struct aws_creds *out);

/* Checks a container credentials endpoint URL (the value of
 * AWS_CONTAINER_CREDENTIALS_FULL_URI) as libcurl parses it: https to any
 * host; plain http only to loopback (127.0.0.0/8, [::1], localhost) or the
 * container agents (169.254.170.2, 169.254.170.23, [fd00:ec2::23]); never
 * user information ("http://127.0.0.1@evil/" names the host evil). WIRE_OK
 * with *out the URL to fetch, in libcurl's spelling (free with curl_free);
 * WIRE_INVALID (logged, without the URL) or WIRE_NOMEM with *out NULL. */
enum wire_status aws_container_url(const char *url, char **out);

/* Where to send requests, from options and environment:
 * region: explicit, else AWS_REGION, AWS_DEFAULT_REGION, the profile's
 * region in the config file, else "us-east-1".
 * endpoint for a service ("s3" or "dynamodb"): explicit, else
 * AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_DYNAMODB, else AWS_ENDPOINT_URL,
 * else the AWS default (https://s3.<region>.amazonaws.com,
 * https://dynamodb.<region>.amazonaws.com). Malloc'ed strings. */
char *aws_resolve_region(const char *explicit_region, const char *profile);

/* The CA bundle every request trusts instead of the system's: explicit,
 * else AWS_CA_BUNDLE, else the profile's ca_bundle in the config file.
 * Malloc'ed, or NULL for the system's (or ENOMEM). */
char *aws_resolve_ca_bundle(const char *explicit_ca, const char *profile);
char *aws_resolve_endpoint(const char *service, const char *explicit_endpoint, const char *region);

#endif
