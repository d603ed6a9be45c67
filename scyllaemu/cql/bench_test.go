package cql

import "testing"

var benchQueries = map[string]string{
	"SystemLocal": "SELECT * FROM system.local WHERE key='local' USING TIMEOUT 10000ms",
	"CDCRange":    `SELECT "cdc$stream_id", "cdc$time" FROM ks.tbl_scylla_cdc_log WHERE "cdc$stream_id" IN (?, ?, ?, ?) AND "cdc$time" > ? AND "cdc$time" <= ? PER PARTITION LIMIT 1 BYPASS CACHE`,
	"Insert":      "INSERT INTO outbox.events (id, aggregate_id, type, payload, created_at) VALUES (?, ?, ?, ?, toTimestamp(now())) USING TTL ?",
	"Update":      "UPDATE ks.t USING TTL 5 SET a = ?, b = b + ?, m['k'] = ? WHERE k = ? AND c IN (?, ?) IF a = ?",
	"CreateTable": "CREATE TABLE IF NOT EXISTS ks.t (a int, b text, c frozen<map<text, text>>, PRIMARY KEY ((a, b), c)) WITH CLUSTERING ORDER BY (c DESC) AND cdc = {'enabled': true}",
}

func BenchmarkParse(b *testing.B) {
	for name, q := range benchQueries {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(q)))
			for b.Loop() {
				if _, err := Parse(q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
