/* S3 XML replies decoded with libxml2 (internal to s3/): ListObjectsV2
 * results, multipart initiate/complete replies and <Error> bodies, and the
 * credentials of an STS reply. Input
 * larger than S3_XML_MAX, malformed or truncated gives WIRE_BAD_RESPONSE;
 * no entity expansion, no network access. Thread-safe. */
#ifndef TFS_S3_XML_I_H
#define TFS_S3_XML_I_H

#include <stddef.h>
#include <stdint.h>

#include "s3/wire/s3.h"
#include "s3/wire/status.h"

#define S3_XML_MAX (16u << 20)

/* <Error><Code>..</Code><Message>..</Message></Error>: copies code and
 * message (truncated to their buffers, "" when absent). WIRE_OK when the
 * body is an Error document, WIRE_BAD_RESPONSE otherwise. */
enum wire_status s3_xml_parse_error(const char *buf, size_t len, char *code, size_t code_sz,
				    char *msg, size_t msg_sz);

/* The status an S3 error code stands for; fallback when the code is
 * unknown (e.g. 404 NoSuchKey -> WIRE_NOT_FOUND, SlowDown -> WIRE_THROTTLED). */
enum wire_status s3_error_code_status(const char *code, enum wire_status fallback);

/* <ListBucketResult> of ListObjectsV2 into *out (overwritten; the caller
 * frees it with s3_list_page_free() whatever the status). next is set only
 * when IsTruncated is true and a NextContinuationToken is there. */
enum wire_status s3_xml_parse_list(const char *buf, size_t len, struct s3_list_page *out);

/* <ListMultipartUploadsResult> into *out (overwritten; freed by the
 * caller with s3_upload_page_free() whatever the status). The next
 * markers are set only when IsTruncated is true. */
enum wire_status s3_xml_parse_uploads(const char *buf, size_t len, struct s3_upload_page *out);

/* <InitiateMultipartUploadResult><UploadId>: *upload_id malloc'ed. */
enum wire_status s3_xml_parse_initiate(const char *buf, size_t len, char **upload_id);

/* <CompleteMultipartUploadResult><ETag> into etag (may be NULL). S3 can
 * answer 200 with an <Error> document here: that gives the status of its
 * code (WIRE_SERVER for unknown codes) and the code/message in err (may be
 * NULL, err_sz bytes). */
enum wire_status s3_xml_parse_complete(const char *buf, size_t len, char *etag, size_t etag_sz,
				       char *err, size_t err_sz);

/* The <Credentials> of an STS AssumeRole* reply (<NAMEResponse><NAMEResult>
 * <Credentials> with AccessKeyId, SecretAccessKey, SessionToken and
 * Expiration) into *out, which the caller clears with aws_creds_clear()
 * whatever the status. An <ErrorResponse><Error> gives the status of its
 * code (WIRE_AUTH for a refused token) and "Code: Message" in err (may be
 * NULL); anything else, or a missing field, WIRE_BAD_RESPONSE. */
enum wire_status sts_xml_parse_credentials(const char *buf, size_t len, struct aws_creds *out,
					   char *err, size_t err_sz);

#endif
