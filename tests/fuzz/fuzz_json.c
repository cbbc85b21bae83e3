/* libFuzzer target for the DynamoDB JSON decoders (s3/wire/ddb.h): error
 * replies, success replies, typed attribute readers and the "N" integer
 * parsers, checked against what the header promises. */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "s3/base/log.h"
#include "s3/base/parse.h"
#include "s3/wire/ddb.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	tfs_log_set_level(LOG_CRIT);
	return 0;
}

static void must_terminate(const char *buf, size_t size)
{
	if (strnlen(buf, size) >= size)
		abort();
}

/* "[-]digits" (sign only when allowed), nothing else: what a successful
 * ddb_parse_*() must have been given. */
static int plain_integer(const char *s, int sign_ok)
{
	if (sign_ok && *s == '-')
		s++;
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

static void read_members(json_t *item)
{
	const char *name;
	void *iter;
	char small[4], big[256];
	uint64_t u;
	int64_t i;
	int rc;

	/* The readers take an attribute map or NULL, nothing else. */
	if (item && !json_is_object(item))
		return;
	for (iter = json_object_iter(item); iter; iter = json_object_iter_next(item, iter)) {
		name = json_object_iter_key(iter);
		rc = ddb_av_get_s(item, name, small, sizeof(small));
		if (rc == -E2BIG && small[0] != '\0')
			abort();
		if (rc == 0)
			must_terminate(small, sizeof(small));
		if (ddb_av_get_s(item, name, big, sizeof(big)) == 0)
			must_terminate(big, sizeof(big));
		(void)ddb_av_get_u64(item, name, &u);
		(void)ddb_av_get_i64(item, name, &i);
	}
	if (ddb_av_get_s(item, "no such member \x01", big, sizeof(big)) != -ENOENT)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct wire_error err;
	json_t *reply = NULL, *items;
	char *str;
	uint64_t u;
	int64_t i;
	long status;
	size_t k;

	/* The first two bytes pick the HTTP status of the error reply. */
	status = size >= 2 ? 400 + (data[0] % 2) * 100 + data[1] % 30 : 400;
	memset(&err, 'x', sizeof(err));
	(void)ddb_decode_error(status, buf, size, &err);
	must_terminate(err.code, sizeof(err.code));
	must_terminate(err.message, sizeof(err.message));

	if (ddb_decode_reply(buf, size, &reply) == WIRE_OK) {
		if (!json_is_object(reply))
			abort();
		read_members(reply);
		items = json_object_get(reply, "Items");
		for (k = 0; json_is_array(items) && k < json_array_size(items); k++)
			read_members(json_array_get(items, k));
		read_members(json_object_get(reply, "Item"));
		json_decref(reply);
	}

	str = malloc(size + 1);
	if (!str)
		return 0;
	memcpy(str, data, size);
	str[size] = '\0';
	(void)ddb_error_status(str, status);
	if (tfs_parse_u64(str, &u, NULL) == 0 && !plain_integer(str, 0))
		abort();
	if (ddb_parse_i64(str, &i) == 0 && !plain_integer(str, 1))
		abort();
	free(str);
	return 0;
}
