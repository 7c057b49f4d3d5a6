package store

// PredictionWhereID exposes predictionWhereID to the tests of package
// store_test (EXPLAIN of a lookup by id).
func PredictionWhereID(s *Store, id int64, n int) (string, []any) { return s.predictionWhereID(id, n) }

// PartitionedID exposes the id a row of a partitioned table gets.
var PartitionedID = partitionedID
