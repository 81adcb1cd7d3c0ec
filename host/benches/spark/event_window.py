"""Structured Streaming's side of the event-time benchmark (host/benches/event_window.rs): a count per key
in 10-second tumbling windows of the events' own time, watermark 10 s behind the latest event, append
mode, 2 files per micro-batch (availableNow), local[2]. Writes every emitted window as `key,start_ms,count`
lines to OUT so the benchmark checks them; prints `= NNNk records/s` for the whole query.

    python event_window.py DATA_DIR OUT.csv RECORDS
"""
import sys
import tempfile
import time

from pyspark.sql import SparkSession
from pyspark.sql.functions import col, unix_millis, window

data, out, records = sys.argv[1], sys.argv[2], int(sys.argv[3])
spark = (SparkSession.builder.master("local[2]").appName("event-window")
         .config("spark.sql.shuffle.partitions", "2")
         .config("spark.ui.enabled", "false").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
events = spark.readStream.schema("key STRING, ts LONG").option("maxFilesPerTrigger", 2).json(data)
counts = (events.withColumn("t", (col("ts") / 1000).cast("timestamp"))
          .withWatermark("t", "10 seconds")
          .groupBy(window("t", "10 seconds"), "key").count()
          .select("key", unix_millis(col("window.start")).alias("start"), "count"))
t = time.time()
q = (counts.writeStream.outputMode("append").format("memory").queryName("windows")
     .option("checkpointLocation", tempfile.mkdtemp(prefix="ckpt-ew-")).trigger(availableNow=True).start())
q.awaitTermination()
el = time.time() - t
rows = spark.table("windows").collect()
with open(out, "w") as f:
    for r in rows:
        f.write(f"{r['key']},{r['start']},{r['count']}\n")
print(f"structured streaming event-time window count: {records:,} records in {el:.1f}s = {records/el/1e3:.0f}k records/s")
