package embedded

import (
	"testing"
)

// FuzzOperations feeds arbitrary bodies to every operation: errors, never panics.
func FuzzOperations(f *testing.F) {
	f.Add("PutItem", []byte(`{"TableName":"t1","Item":{"pk":{"S":"a"},"n":{"N":"1"}},"ConditionExpression":"attribute_not_exists(pk) AND n < :v","ExpressionAttributeValues":{":v":{"N":"2"}}}`))
	f.Add("UpdateItem", []byte(`{"TableName":"t1","Key":{"pk":{"S":"a"}},"UpdateExpression":"SET n = n + :v REMOVE x ADD s :s","ExpressionAttributeValues":{":v":{"N":"2"},":s":{"SS":["q"]}}}`))
	f.Add("Query", []byte(`{"TableName":"t1","KeyConditionExpression":"pk = :p","ExpressionAttributeValues":{":p":{"S":"a"}},"Limit":1}`))
	f.Add("Scan", []byte(`{"TableName":"t1","FilterExpression":"size(s) > :z","ExpressionAttributeValues":{":z":{"N":"0"}}}`))
	f.Add("BatchWriteItem", []byte(`{"RequestItems":{"t1":[{"PutRequest":{"Item":{"pk":{"S":"b"}}}}]}}`))
	f.Add("CreateTable", []byte(`{"TableName":"t2","AttributeDefinitions":[{"AttributeName":"k","AttributeType":"N"}],"KeySchema":[{"AttributeName":"k","KeyType":"HASH"}],"BillingMode":"PAY_PER_REQUEST"}`))
	d := newDB("us-east-1")
	createTable(d, []byte(`{"TableName":"t1","AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"}],"KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}],"BillingMode":"PAY_PER_REQUEST"}`))
	f.Fuzz(func(t *testing.T, op string, body []byte) {
		handler, ok := operations[op]
		if !ok {
			return
		}
		handler(d, body)
	})
}
