"""Structured Streaming's side of the sentiment benchmark (host/benches/sentiment.rs): every review is
labelled by the same multinomial naive-Bayes model (Weir's model file, applied in a vectorised pandas UDF:
the terms Weir counts, a sparse count matrix, one matrix product per Arrow batch) and the labels are
counted, 1 file per micro-batch (availableNow), local[2]. Prints the counts as `label count` lines and
`= NNNk records/s` for the whole query.

    python sentiment.py DATA_DIR MODEL.json RECORDS
"""
import json
import os
import re
import sys
import tempfile
import time

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # the UDF's workers need this venv's numpy and scipy

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql.functions import col, pandas_udf

data, model_path, records = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(model_path) as f:
    model = json.load(f)
classes = model["classes"]
vocabulary = model["vocabulary"]
feature_log_prob = np.array(model["feature_log_prob"]).T  # terms x classes
class_log_prior = np.array(model["class_log_prior"])
TERM = re.compile(r"[^\W_]+")
spark = (SparkSession.builder.master("local[2]").appName("sentiment")
         .config("spark.sql.shuffle.partitions", "2")
         .config("spark.ui.enabled", "false").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")


@pandas_udf("string")
def label(texts: pd.Series) -> pd.Series:
    from scipy.sparse import csr_matrix
    rows, cols = [], []
    for i, text in enumerate(texts):
        for term in TERM.findall(text.lower()):
            j = vocabulary.get(term)
            if j is not None:
                rows.append(i)
                cols.append(j)
    counts = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(texts), len(vocabulary)))
    scores = counts @ feature_log_prob + class_log_prior
    return pd.Series(np.array(classes, dtype=object)[scores.argmax(axis=1)])


reviews = spark.readStream.format("text").option("maxFilesPerTrigger", 1).load(data)
per_label = reviews.select(label(col("value")).alias("label")).groupBy("label").count()
t = time.time()
q = (per_label.writeStream.outputMode("complete").format("memory").queryName("labels")
     .option("checkpointLocation", tempfile.mkdtemp(prefix="ckpt-nb-")).trigger(availableNow=True).start())
q.awaitTermination()
el = time.time() - t
for r in spark.table("labels").collect():
    print(f"label {r['label']} {r['count']}")
print(f"structured streaming naive-bayes pandas UDF: {records:,} records in {el:.1f}s = {records/el/1e3:.0f}k records/s")
