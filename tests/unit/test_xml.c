/* Unit tests of the S3 XML decoders (s3/wire/xml.c): ListObjectsV2 pages,
 * multipart initiate/complete replies, <Error> bodies, and malformed,
 * truncated and oversized input. No network. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "s3/wire/xml_i.h"
#include "tests/unit/tap.h"

#define NS "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""

static const char list_page1[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult " NS ">"
    "<Name>b</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>"
    "<IsTruncated>true</IsTruncated>"
    "<Contents><Key>p/a &amp; b.db</Key><LastModified>2024-01-02T03:04:05.678Z</LastModified>"
    "<ETag>&quot;abc&quot;</ETag><Size>12345678901</Size><StorageClass>STANDARD</StorageClass></"
    "Contents>"
    "<Contents><Key>p/c.db</Key><LastModified>1970-01-01T00:00:01Z</LastModified>"
    "<ETag>\"def\"</ETag><Size>0</Size></Contents>"
    "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
    "</ListBucketResult>";

static const char list_last[] =
    "<ListBucketResult><Name>b</Name><KeyCount>1</KeyCount><IsTruncated>false</IsTruncated>"
    "<ContinuationToken>tok</ContinuationToken>"
    "<Contents><Key>z</Key><Size>7</Size></Contents></ListBucketResult>";

static const char list_empty[] =
    "<?xml version=\"1.0\"?><ListBucketResult " NS "><Name>b</Name><KeyCount>0</KeyCount>"
    "<IsTruncated>false</IsTruncated></ListBucketResult>";

static void test_list(void)
{
	struct s3_list_page p;
	enum wire_status st;

	st = s3_xml_parse_list(list_page1, strlen(list_page1), &p);
	TAP_OK(st == WIRE_OK, "list page with continuation parses (%s)", wire_status_str(st));
	TAP_OK(p.n == 2, "list page has 2 entries (got %zu)", p.n);
	if (p.n == 2) {
		TAP_STREQ(p.entries[0].key, "p/a & b.db", "entity in key decoded");
		TAP_OK(p.entries[0].size == 12345678901ULL, "size above 4 GiB kept");
		TAP_OK(p.entries[0].mtime_ms == 1704164645678LL, "LastModified with ms (got %lld)",
		       (long long)p.entries[0].mtime_ms);
		TAP_STREQ(p.entries[0].etag, "\"abc\"", "etag with quotes");
		TAP_OK(p.entries[1].size == 0 && p.entries[1].mtime_ms == 1000,
		       "second entry size 0, mtime 1s");
	}
	TAP_STREQ(p.next,
		  "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=", "next continuation token");
	s3_list_page_free(&p);
	TAP_OK(p.n == 0 && !p.entries && !p.next, "list page free resets the page");

	st = s3_xml_parse_list(list_last, strlen(list_last), &p);
	TAP_OK(st == WIRE_OK && p.n == 1 && p.next == NULL,
	       "last page without namespace: 1 entry, no next token");
	s3_list_page_free(&p);

	st = s3_xml_parse_list(list_empty, strlen(list_empty), &p);
	TAP_OK(st == WIRE_OK && p.n == 0 && p.entries == NULL && p.next == NULL, "empty listing");
	s3_list_page_free(&p);
}

static void test_list_bad(void)
{
	struct s3_list_page p;
	static const char trunc_no_token[] =
	    "<ListBucketResult><IsTruncated>true</IsTruncated>"
	    "<Contents><Key>a</Key><Size>1</Size></Contents></ListBucketResult>";
	static const char bad_size[] =
	    "<ListBucketResult><IsTruncated>false</IsTruncated>"
	    "<Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>";
	static const char no_key[] = "<ListBucketResult><IsTruncated>false</IsTruncated>"
				     "<Contents><Size>1</Size></Contents></ListBucketResult>";
	static const char wrong_root[] = "<ListAllMyBucketsResult></ListAllMyBucketsResult>";
	static const char bad_trunc[] =
	    "<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>";
	size_t i, n;

	TAP_OK(s3_xml_parse_list(trunc_no_token, strlen(trunc_no_token), &p) == WIRE_BAD_RESPONSE &&
		   p.n == 0 && !p.entries,
	       "truncated listing without token rejected, page left empty");
	s3_list_page_free(&p);
	TAP_OK(s3_xml_parse_list(bad_size, strlen(bad_size), &p) == WIRE_BAD_RESPONSE,
	       "negative size rejected");
	s3_list_page_free(&p);
	TAP_OK(s3_xml_parse_list(no_key, strlen(no_key), &p) == WIRE_BAD_RESPONSE,
	       "entry without key rejected");
	s3_list_page_free(&p);
	TAP_OK(s3_xml_parse_list(wrong_root, strlen(wrong_root), &p) == WIRE_BAD_RESPONSE,
	       "wrong root element rejected");
	s3_list_page_free(&p);
	TAP_OK(s3_xml_parse_list(bad_trunc, strlen(bad_trunc), &p) == WIRE_BAD_RESPONSE,
	       "IsTruncated neither true nor false rejected");
	s3_list_page_free(&p);

	/* Every strict prefix of a valid page is malformed: none may parse. */
	n = strlen(list_page1);
	for (i = 0; i < n; i++) {
		if (s3_xml_parse_list(list_page1, i, &p) != WIRE_BAD_RESPONSE)
			break;
		s3_list_page_free(&p);
	}
	TAP_OK(i == n, "every truncation of a listing is a bad response (first accepted at %zu)",
	       i);
	s3_list_page_free(&p);
	TAP_OK(s3_xml_parse_list(NULL, 0, &p) == WIRE_BAD_RESPONSE, "empty input rejected");
	s3_list_page_free(&p);
	TAP_OK(s3_xml_parse_list("not xml at all", 14, &p) == WIRE_BAD_RESPONSE,
	       "garbage rejected");
	s3_list_page_free(&p);
}

static void test_error(void)
{
	static const char err[] =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>"
	    "<Message>The specified key does not exist.</Message><Key>x</Key>"
	    "<RequestId>1</RequestId></Error>";
	static const char err_nomsg[] = "<Error><Code>SlowDown</Code></Error>";
	char code[64], msg[128], small[5];

	TAP_OK(s3_xml_parse_error(err, strlen(err), code, sizeof(code), msg, sizeof(msg)) ==
		   WIRE_OK,
	       "error body parses");
	TAP_STREQ(code, "NoSuchKey", "error code");
	TAP_STREQ(msg, "The specified key does not exist.", "error message");
	TAP_OK(s3_xml_parse_error(err_nomsg, strlen(err_nomsg), code, sizeof(code), msg,
				  sizeof(msg)) == WIRE_OK &&
		   strcmp(code, "SlowDown") == 0 && msg[0] == '\0',
	       "error without message: empty message");
	TAP_OK(s3_xml_parse_error(err, strlen(err), small, sizeof(small), NULL, 0) == WIRE_OK &&
		   strcmp(small, "NoSu") == 0,
	       "code truncated to its buffer");
	TAP_OK(s3_xml_parse_error(err, 40, code, sizeof(code), msg, sizeof(msg)) ==
		       WIRE_BAD_RESPONSE &&
		   code[0] == '\0',
	       "truncated error body rejected, code cleared");
	TAP_OK(s3_xml_parse_error(list_empty, strlen(list_empty), code, sizeof(code), msg,
				  sizeof(msg)) == WIRE_BAD_RESPONSE,
	       "non-error document is not an error body");

	TAP_OK(s3_error_code_status("NoSuchKey", WIRE_CLIENT) == WIRE_NOT_FOUND, "NoSuchKey");
	TAP_OK(s3_error_code_status("NoSuchBucket", WIRE_NOT_FOUND) == WIRE_NO_BUCKET,
	       "NoSuchBucket");
	TAP_OK(s3_error_code_status("SignatureDoesNotMatch", WIRE_ACCESS_DENIED) == WIRE_AUTH,
	       "SignatureDoesNotMatch");
	TAP_OK(s3_error_code_status("InvalidAccessKeyId", WIRE_ACCESS_DENIED) == WIRE_AUTH,
	       "InvalidAccessKeyId");
	TAP_OK(s3_error_code_status("ExpiredToken", WIRE_CLIENT) == WIRE_AUTH, "ExpiredToken");
	TAP_OK(s3_error_code_status("AccessDenied", WIRE_CLIENT) == WIRE_ACCESS_DENIED,
	       "AccessDenied");
	TAP_OK(s3_error_code_status("SlowDown", WIRE_SERVER) == WIRE_THROTTLED, "SlowDown");
	TAP_OK(s3_error_code_status("WhoKnows", WIRE_CLIENT) == WIRE_CLIENT,
	       "unknown code keeps the fallback");
	TAP_OK(s3_error_code_status(NULL, WIRE_SERVER) == WIRE_SERVER,
	       "no code keeps the fallback");
}

static void test_multipart(void)
{
	static const char init[] =
	    "<?xml version=\"1.0\"?><InitiateMultipartUploadResult " NS
	    "><Bucket>b</Bucket><Key>k</Key><UploadId>VXBsb2FkIElE</UploadId>"
	    "</InitiateMultipartUploadResult>";
	static const char init_noid[] =
	    "<InitiateMultipartUploadResult><Bucket>b</Bucket></InitiateMultipartUploadResult>";
	static const char done[] =
	    "<CompleteMultipartUploadResult " NS "><Location>http://x/b/k</Location>"
	    "<Bucket>b</Bucket><Key>k</Key><ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag>"
	    "</CompleteMultipartUploadResult>";
	static const char done_err[] =
	    "<?xml version=\"1.0\"?>\n\n<Error><Code>InternalError</Code>"
	    "<Message>We encountered an internal error. Please try again.</Message></Error>";
	static const char done_err2[] =
	    "<Error><Code>InvalidPart</Code><Message>part missing</Message></Error>";
	char *id = NULL, etag[80], err[128];

	TAP_OK(s3_xml_parse_initiate(init, strlen(init), &id) == WIRE_OK, "initiate parses");
	TAP_STREQ(id, "VXBsb2FkIElE", "upload id");
	free(id);
	TAP_OK(s3_xml_parse_initiate(init_noid, strlen(init_noid), &id) == WIRE_BAD_RESPONSE &&
		   id == NULL,
	       "initiate without UploadId rejected");
	TAP_OK(s3_xml_parse_initiate(init, strlen(init) - 10, &id) == WIRE_BAD_RESPONSE &&
		   id == NULL,
	       "truncated initiate rejected");

	TAP_OK(s3_xml_parse_complete(done, strlen(done), etag, sizeof(etag), err, sizeof(err)) ==
		   WIRE_OK,
	       "complete parses");
	TAP_STREQ(etag, "\"3858f62230ac3c915f300c664312c11f-9\"", "complete etag");
	TAP_OK(s3_xml_parse_complete(done_err, strlen(done_err), etag, sizeof(etag), err,
				     sizeof(err)) == WIRE_SERVER,
	       "200 with <Error> InternalError is a (retryable) server error");
	TAP_OK(strstr(err, "InternalError") != NULL, "error text names the code: %s", err);
	TAP_OK(s3_xml_parse_complete(done_err2, strlen(done_err2), etag, sizeof(etag), err,
				     sizeof(err)) == WIRE_SERVER &&
		   strstr(err, "InvalidPart") && strstr(err, "part missing"),
	       "unknown error code in complete reply: server error with code and message");
	{
		static const char moto_done[] =
		    "<CompleteMultipartUploadResponse><ETag>\"x-2\"</ETag>"
		    "</CompleteMultipartUploadResponse>";

		TAP_OK(s3_xml_parse_complete(moto_done, strlen(moto_done), etag, sizeof(etag), err,
					     sizeof(err)) == WIRE_OK &&
			   strcmp(etag, "\"x-2\"") == 0,
		       "moto's CompleteMultipartUploadResponse root accepted");
	}
	TAP_OK(s3_xml_parse_complete(done, 30, etag, sizeof(etag), err, sizeof(err)) ==
		   WIRE_BAD_RESPONSE,
	       "truncated complete reply rejected");
}

static void test_oversized(void)
{
	size_t n = S3_XML_MAX + 64, i;
	char *big = malloc(n);
	struct s3_list_page p;
	const char *head = "<ListBucketResult><IsTruncated>false</IsTruncated><Name>";
	const char *tail = "</Name></ListBucketResult>";
	char code[16];

	if (!big) {
		TAP_OK(0, "malloc for oversized input");
		return;
	}
	memcpy(big, head, strlen(head));
	for (i = strlen(head); i < n - strlen(tail); i++)
		big[i] = 'a';
	memcpy(big + n - strlen(tail), tail, strlen(tail));
	TAP_OK(s3_xml_parse_list(big, n, &p) == WIRE_BAD_RESPONSE, "oversized listing rejected");
	s3_list_page_free(&p);
	/* The same document just under the cap parses: the cap is what refused it. */
	memmove(big + strlen(head) + 128, big + n - strlen(tail), strlen(tail));
	TAP_OK(s3_xml_parse_list(big, strlen(head) + 128 + strlen(tail), &p) == WIRE_OK,
	       "the same document within the cap parses");
	s3_list_page_free(&p);
	TAP_OK(s3_xml_parse_error(big, n, code, sizeof(code), NULL, 0) == WIRE_BAD_RESPONSE,
	       "oversized error body rejected");
	free(big);
}

static void test_entities(void)
{
	/* No external entity may be fetched or expanded into the result. */
	static const char xxe[] =
	    "<?xml version=\"1.0\"?><!DOCTYPE Error [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
	    "<Error><Code>&x;</Code><Message>m</Message></Error>";
	char code[64] = "unset", msg[16];

	s3_xml_parse_error(xxe, strlen(xxe), code, sizeof(code), msg, sizeof(msg));
	TAP_OK(strstr(code, "root:") == NULL, "external entity not expanded (code '%s')", code);
}

int main(void)
{
	test_list();
	test_list_bad();
	test_error();
	test_multipart();
	test_oversized();
	test_entities();
	return TAP_DONE();
}
