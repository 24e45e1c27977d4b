package embedded

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/faultline-dev/faultline/targets/dynamodb/attr"
)

// The __type prefixes DynamoDB uses; the SDKs map the part after '#' to
// their typed errors.
const (
	typeResourceNotFound  = "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"
	typeResourceInUse     = "com.amazonaws.dynamodb.v20120810#ResourceInUseException"
	typeConditionalFailed = "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"
	typeValidation        = "com.amazon.coral.validate#ValidationException"
	typeSerialization     = "com.amazon.coral.service#SerializationException"
	typeUnknownOperation  = "com.amazon.coral.service#UnknownOperationException"
	typeInternal          = "com.amazonaws.dynamodb.v20120810#InternalServerError"
	typeThrottling        = "com.amazonaws.dynamodb.v20120810#ThrottlingException"
)

type apiError struct {
	typ    string
	msg    string
	status int       // 400 unless set
	item   attr.Item // ConditionalCheckFailed with ReturnValuesOnConditionCheckFailure ALL_OLD
}

func (e *apiError) Error() string { return e.typ + ": " + e.msg }

func validation(format string, args ...any) *apiError {
	return &apiError{typ: typeValidation, msg: fmt.Sprintf(format, args...)}
}

func notFound() *apiError {
	return &apiError{typ: typeResourceNotFound, msg: "Requested resource not found"}
}

func conditionFailed(old attr.Item) *apiError {
	return &apiError{typ: typeConditionalFailed, msg: "The conditional request failed", item: old}
}

func errorBody(e *apiError) (int, []byte, string) {
	status := e.status
	if status == 0 {
		status = 400
	}
	body := map[string]any{"__type": e.typ}
	if e.msg != "" || e.typ != typeUnknownOperation {
		body["message"] = e.msg
	}
	if e.item != nil {
		body["Item"] = e.item
	}
	b, _ := json.Marshal(body)
	return status, b, e.typ[strings.IndexByte(e.typ, '#')+1:]
}
