/* libFuzzer target for the S3 XML decoders (s3/wire/xml_i.h): error bodies,
 * ListObjectsV2 pages, multipart initiate/complete replies and ISO 8601
 * dates. Checks that outputs stay NUL-terminated within their buffers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "s3/base/log.h"
#include "s3/base/parse.h"
#include "s3/wire/xml_i.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	char code[16], msg[32], etag[24], err[40];
	struct s3_list_page page;
	char *upload_id = NULL;
	char *str;
	size_t i;

	if (s3_xml_parse_error(buf, size, code, sizeof(code), msg, sizeof(msg)) == WIRE_OK) {
		must_terminate(code, sizeof(code));
		must_terminate(msg, sizeof(msg));
		(void)s3_error_code_status(code, WIRE_SERVER);
	}

	memset(&page, 0xa5, sizeof(page));
	if (s3_xml_parse_list(buf, size, &page) == WIRE_OK) {
		if (page.n && !page.entries)
			abort();
		for (i = 0; i < page.n; i++) {
			if (!page.entries[i].key)
				abort();
			must_terminate(page.entries[i].etag, sizeof(page.entries[i].etag));
		}
	}
	s3_list_page_free(&page);

	if (s3_xml_parse_initiate(buf, size, &upload_id) == WIRE_OK && !upload_id)
		abort();
	free(upload_id);

	memset(etag, 'x', sizeof(etag));
	memset(err, 'x', sizeof(err));
	(void)s3_xml_parse_complete(buf, size, etag, sizeof(etag), err, sizeof(err));
	(void)s3_xml_parse_complete(buf, size, NULL, 0, NULL, 0);

	/* The date parser takes a C string: give it one of exactly this size. */
	str = malloc(size + 1);
	if (!str)
		return 0;
	memcpy(str, data, size);
	str[size] = '\0';
	{
		int64_t ms;

		(void)tfs_parse_iso8601_ms(str, false, &ms);
		(void)tfs_parse_iso8601_ms(str, true, &ms);
	}
	free(str);
	return 0;
}
