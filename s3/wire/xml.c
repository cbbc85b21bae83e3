/* Decoding of S3's XML replies with libxml2: ListObjectsV2 pages, the
 * multipart initiate/complete results and <Error> documents. Elements are
 * matched by local name, so the S3 namespace may or may not be there. */
#include "s3/wire/xml_i.h"

#include "s3/base/parse.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init_once(void)
{
	xmlInitParser();
}

/* Parses without network access, entity substitution or error output
 * (libxml2 would print to stderr otherwise). NULL when buf is not a
 * complete, well-formed document of at most S3_XML_MAX bytes. */
static xmlDocPtr xml_read(const char *buf, size_t len)
{
	xmlParserCtxtPtr ctxt;
	xmlDocPtr doc;

	if (!buf || len == 0 || len > S3_XML_MAX)
		return NULL;
	pthread_once(&xml_once, xml_init_once);
	ctxt = xmlNewParserCtxt();
	if (!ctxt)
		return NULL;
	doc = xmlCtxtReadMemory(ctxt, buf, (int)len, "s3.xml", NULL,
				XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc && !ctxt->wellFormed) {
		xmlFreeDoc(doc);
		doc = NULL;
	}
	xmlFreeParserCtxt(ctxt);
	return doc;
}

static int name_is(xmlNodePtr n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static xmlNodePtr child(xmlNodePtr parent, const char *name)
{
	xmlNodePtr n;

	for (n = parent ? parent->children : NULL; n; n = n->next)
		if (name_is(n, name))
			return n;
	return NULL;
}

/* Text of a child element, malloc'ed (libxml2's allocator is malloc here,
 * but copy anyway so callers free() with no doubt). NULL if absent. */
static char *child_text(xmlNodePtr parent, const char *name)
{
	xmlNodePtr n = child(parent, name);
	xmlChar *t;
	char *s;

	if (!n)
		return NULL;
	t = xmlNodeGetContent(n);
	if (!t)
		return strdup("");
	s = strdup((const char *)t);
	xmlFree(t);
	return s;
}

static void copy_text(xmlNodePtr parent, const char *name, char *dst, size_t dst_sz)
{
	char *t;

	if (!dst || dst_sz == 0)
		return;
	dst[0] = '\0';
	t = child_text(parent, name);
	if (!t)
		return;
	snprintf(dst, dst_sz, "%s", t);
	free(t);
}

enum wire_status s3_xml_parse_error(const char *buf, size_t len, char *code, size_t code_sz,
				    char *msg, size_t msg_sz)
{
	enum wire_status st = WIRE_BAD_RESPONSE;
	xmlDocPtr doc;
	xmlNodePtr root;

	if (code && code_sz)
		code[0] = '\0';
	if (msg && msg_sz)
		msg[0] = '\0';
	doc = xml_read(buf, len);
	if (!doc)
		goto out;
	root = xmlDocGetRootElement(doc);
	if (!name_is(root, "Error"))
		goto out;
	copy_text(root, "Code", code, code_sz);
	copy_text(root, "Message", msg, msg_sz);
	st = WIRE_OK;
out:
	if (doc)
		xmlFreeDoc(doc);
	return st;
}

static const struct {
	const char *code;
	enum wire_status st;
} code_map[] = {
    {"NoSuchKey", WIRE_NOT_FOUND},
    {"NoSuchUpload", WIRE_NOT_FOUND},
    {"NoSuchVersion", WIRE_NOT_FOUND},
    {"NoSuchBucket", WIRE_NO_BUCKET},
    {"SignatureDoesNotMatch", WIRE_AUTH},
    {"InvalidAccessKeyId", WIRE_AUTH},
    {"ExpiredToken", WIRE_AUTH},
    {"InvalidToken", WIRE_AUTH},
    {"TokenRefreshRequired", WIRE_AUTH},
    {"AuthorizationHeaderMalformed", WIRE_AUTH},
    {"RequestTimeTooSkewed", WIRE_AUTH},
    {"MissingSecurityHeader", WIRE_AUTH},
    {"AccessDenied", WIRE_ACCESS_DENIED},
    {"AllAccessDisabled", WIRE_ACCESS_DENIED},
    {"AccountProblem", WIRE_ACCESS_DENIED},
    {"SlowDown", WIRE_THROTTLED},
    {"Throttling", WIRE_THROTTLED},
    {"ThrottlingException", WIRE_THROTTLED},
    {"RequestLimitExceeded", WIRE_THROTTLED},
    {"TooManyRequests", WIRE_THROTTLED},
    {"PreconditionFailed", WIRE_PRECONDITION},
    /* A concurrent conditional write on the same key: retrying settles it
     * (the retry then sees the winner and gets 412). */
    {"ConditionalRequestConflict", WIRE_SERVER},
    {"InternalError", WIRE_SERVER},
    {"ServiceUnavailable", WIRE_SERVER},
    /* S3 gave up waiting for our body: worth another attempt. */
    {"RequestTimeout", WIRE_TIMEOUT},
    /* STS AssumeRoleWithWebIdentity: the token is refused, or the
     * identity provider could not be reached (worth a later retry). */
    {"InvalidIdentityToken", WIRE_AUTH},
    {"IDPRejectedClaim", WIRE_AUTH},
    {"ExpiredTokenException", WIRE_AUTH},
    {"IDPCommunicationError", WIRE_SERVER},
};

enum wire_status s3_error_code_status(const char *code, enum wire_status fallback)
{
	size_t i;

	if (!code || !*code)
		return fallback;
	for (i = 0; i < sizeof(code_map) / sizeof(code_map[0]); i++)
		if (strcmp(code, code_map[i].code) == 0)
			return code_map[i].st;
	return fallback;
}

void s3_list_page_free(struct s3_list_page *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->n; i++)
		free(p->entries[i].key);
	free(p->entries);
	free(p->next);
	p->entries = NULL;
	p->n = 0;
	p->next = NULL;
}

static enum wire_status list_entry(xmlNodePtr n, struct s3_list_entry *e)
{
	char *size = NULL, *lm = NULL;
	enum wire_status st = WIRE_BAD_RESPONSE;

	memset(e, 0, sizeof(*e));
	e->key = child_text(n, "Key");
	if (!e->key || !*e->key)
		goto out;
	size = child_text(n, "Size");
	if (tfs_parse_u64(size, &e->size, NULL) < 0)
		goto out;
	lm = child_text(n, "LastModified");
	if (lm) {
		if (tfs_parse_iso8601_ms(lm, true, &e->mtime_ms) < 0)
			e->mtime_ms = 0;
	}
	copy_text(n, "ETag", e->etag, sizeof(e->etag));
	st = WIRE_OK;
out:
	if (st != WIRE_OK) {
		free(e->key);
		e->key = NULL;
	}
	free(size);
	free(lm);
	return st;
}

enum wire_status s3_xml_parse_list(const char *buf, size_t len, struct s3_list_page *out)
{
	enum wire_status st = WIRE_BAD_RESPONSE;
	xmlDocPtr doc;
	xmlNodePtr root, n;
	size_t count = 0;
	char *trunc = NULL;

	memset(out, 0, sizeof(*out));
	doc = xml_read(buf, len);
	if (!doc)
		goto out;
	root = xmlDocGetRootElement(doc);
	if (!name_is(root, "ListBucketResult"))
		goto out;
	for (n = root->children; n; n = n->next)
		if (name_is(n, "Contents"))
			count++;
	if (count) {
		out->entries = calloc(count, sizeof(*out->entries));
		if (!out->entries) {
			st = WIRE_NOMEM;
			goto out;
		}
	}
	for (n = root->children; n; n = n->next) {
		if (!name_is(n, "Contents"))
			continue;
		st = list_entry(n, &out->entries[out->n]);
		if (st != WIRE_OK)
			goto out;
		out->n++;
	}
	st = WIRE_BAD_RESPONSE;
	trunc = child_text(root, "IsTruncated");
	if (trunc && strcmp(trunc, "true") == 0) {
		out->next = child_text(root, "NextContinuationToken");
		/* Truncated without a token would make the caller loop forever
		 * or stop early without knowing: refuse it. */
		if (!out->next || !*out->next)
			goto out;
	} else if (trunc && strcmp(trunc, "false") != 0) {
		goto out;
	}
	st = WIRE_OK;
out:
	if (st != WIRE_OK)
		s3_list_page_free(out);
	free(trunc);
	if (doc)
		xmlFreeDoc(doc);
	return st;
}

void s3_upload_page_free(struct s3_upload_page *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->n; i++) {
		free(p->v[i].key);
		free(p->v[i].upload_id);
	}
	free(p->v);
	free(p->next_key);
	free(p->next_upload_id);
	memset(p, 0, sizeof(*p));
}

enum wire_status s3_xml_parse_uploads(const char *buf, size_t len, struct s3_upload_page *out)
{
	enum wire_status st = WIRE_BAD_RESPONSE;
	xmlDocPtr doc;
	xmlNodePtr root, n;
	size_t count = 0;
	char *trunc = NULL, *init = NULL;

	memset(out, 0, sizeof(*out));
	doc = xml_read(buf, len);
	if (!doc)
		goto out;
	root = xmlDocGetRootElement(doc);
	if (!name_is(root, "ListMultipartUploadsResult"))
		goto out;
	for (n = root->children; n; n = n->next)
		count += name_is(n, "Upload");
	if (count) {
		out->v = calloc(count, sizeof(*out->v));
		if (!out->v) {
			st = WIRE_NOMEM;
			goto out;
		}
	}
	for (n = root->children; n; n = n->next) {
		struct s3_upload *u;

		if (!name_is(n, "Upload"))
			continue;
		u = &out->v[out->n++];
		u->key = child_text(n, "Key");
		u->upload_id = child_text(n, "UploadId");
		if (!u->key || !*u->key || !u->upload_id || !*u->upload_id)
			goto out;
		free(init);
		init = child_text(n, "Initiated");
		if (!init || tfs_parse_iso8601_ms(init, true, &u->initiated_ms) < 0)
			u->initiated_ms = 0;
	}
	trunc = child_text(root, "IsTruncated");
	if (trunc && strcmp(trunc, "true") == 0) {
		out->next_key = child_text(root, "NextKeyMarker");
		out->next_upload_id = child_text(root, "NextUploadIdMarker");
		if (!out->next_key || !*out->next_key)
			goto out; /* truncated without a marker: refused */
	} else if (trunc && strcmp(trunc, "false") != 0) {
		goto out;
	}
	st = WIRE_OK;
out:
	if (st != WIRE_OK)
		s3_upload_page_free(out);
	free(trunc);
	free(init);
	if (doc)
		xmlFreeDoc(doc);
	return st;
}

enum wire_status s3_xml_parse_initiate(const char *buf, size_t len, char **upload_id)
{
	enum wire_status st = WIRE_BAD_RESPONSE;
	xmlDocPtr doc;
	xmlNodePtr root;
	char *id = NULL;

	*upload_id = NULL;
	doc = xml_read(buf, len);
	if (!doc)
		goto out;
	root = xmlDocGetRootElement(doc);
	if (!name_is(root, "InitiateMultipartUploadResult"))
		goto out;
	id = child_text(root, "UploadId");
	if (!id || !*id)
		goto out;
	*upload_id = id;
	id = NULL;
	st = WIRE_OK;
out:
	free(id);
	if (doc)
		xmlFreeDoc(doc);
	return st;
}

enum wire_status s3_xml_parse_complete(const char *buf, size_t len, char *etag, size_t etag_sz,
				       char *err, size_t err_sz)
{
	enum wire_status st = WIRE_BAD_RESPONSE;
	xmlDocPtr doc;
	xmlNodePtr root;
	char code[128], msg[256];

	if (etag && etag_sz)
		etag[0] = '\0';
	if (err && err_sz)
		err[0] = '\0';
	doc = xml_read(buf, len);
	if (!doc) {
		if (err && err_sz)
			snprintf(err, err_sz, "malformed CompleteMultipartUpload reply");
		goto out;
	}
	root = xmlDocGetRootElement(doc);
	if (name_is(root, "Error")) {
		copy_text(root, "Code", code, sizeof(code));
		copy_text(root, "Message", msg, sizeof(msg));
		st = s3_error_code_status(code, WIRE_SERVER);
		if (st == WIRE_OK)
			st = WIRE_SERVER;
		if (err && err_sz)
			snprintf(err, err_sz, "%s: %s", code[0] ? code : "unknown error", msg);
		goto out;
	}
	/* moto names the root ...Response; accept it, the content is the same. */
	if (!name_is(root, "CompleteMultipartUploadResult") &&
	    !name_is(root, "CompleteMultipartUploadResponse")) {
		if (err && err_sz)
			snprintf(err, err_sz, "unexpected CompleteMultipartUpload reply <%s>",
				 root ? (const char *)root->name : "");
		goto out;
	}
	copy_text(root, "ETag", etag, etag_sz);
	st = WIRE_OK;
out:
	if (doc)
		xmlFreeDoc(doc);
	return st;
}

/* First element named name at any depth under n (depth-first). */
static xmlNodePtr descendant(xmlNodePtr n, const char *name)
{
	for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next) {
		xmlNodePtr f;

		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (name_is(c, name))
			return c;
		f = descendant(c, name);
		if (f)
			return f;
	}
	return NULL;
}

static size_t str_len(const char *s)
{
	return s ? strlen(s) : 0;
}

enum wire_status sts_xml_parse_credentials(const char *buf, size_t len, struct aws_creds *out,
					   char *err, size_t err_sz)
{
	enum wire_status st = WIRE_BAD_RESPONSE;
	xmlDocPtr doc;
	xmlNodePtr root, result, cred, e;
	char code[128], msg[256], *exp = NULL;

	memset(out, 0, sizeof(*out));
	if (err && err_sz)
		err[0] = '\0';
	doc = xml_read(buf, len);
	if (!doc) {
		if (err && err_sz)
			snprintf(err, err_sz, "malformed sts reply");
		goto out;
	}
	root = xmlDocGetRootElement(doc);
	e = name_is(root, "Error")	     ? root
	    : name_is(root, "ErrorResponse") ? child(root, "Error")
					     : NULL;
	if (e) {
		copy_text(e, "Code", code, sizeof(code));
		copy_text(e, "Message", msg, sizeof(msg));
		st = s3_error_code_status(code, WIRE_AUTH);
		if (st == WIRE_OK)
			st = WIRE_AUTH;
		if (err && err_sz)
			snprintf(err, err_sz, "%s: %s", code[0] ? code : "unknown error", msg);
		goto out;
	}
	/* <AssumeRole...Response><AssumeRole...Result><Credentials>. */
	result = child(root, "AssumeRoleWithWebIdentityResult");
	cred = result ? child(result, "Credentials") : descendant(root, "Credentials");
	if (!cred) {
		if (err && err_sz)
			snprintf(err, err_sz, "sts reply <%s> has no credentials",
				 root ? (const char *)root->name : "");
		goto out;
	}
	out->access_key = child_text(cred, "AccessKeyId");
	out->secret_key = child_text(cred, "SecretAccessKey");
	out->session_token = child_text(cred, "SessionToken");
	exp = child_text(cred, "Expiration");
	if (!str_len(out->access_key) || !str_len(out->secret_key) ||
	    !str_len(out->session_token) || !exp) {
		if (err && err_sz)
			snprintf(err, err_sz,
				 "sts reply lacks a key id, secret, token or expiration");
		goto out;
	}
	if (tfs_parse_iso8601_ms(exp, true, &out->expires_ms) < 0 || out->expires_ms <= 0) {
		if (err && err_sz)
			snprintf(err, err_sz, "sts reply has a bad expiration '%.40s'", exp);
		goto out;
	}
	st = WIRE_OK;
out:
	free(exp);
	if (st != WIRE_OK)
		aws_creds_clear(out);
	if (doc)
		xmlFreeDoc(doc);
	return st;
}
