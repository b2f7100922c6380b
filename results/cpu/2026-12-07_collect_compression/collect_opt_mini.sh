#!/bin/bash
# collect on opt-mini at sample_every 1, raw vs gzip on 1 and 2 compression threads, twice each
cd /work/wt/newuser
for rep in 1 2; do
for cfg in "none 0" "gzip 1" "gzip 2"; do
  set -- $cfg
  out=/tmp/newuser_cc/acts_$1_$2.h5
  rm -f $out $out.partial $out.partial.log
  echo "== rep $rep compression $1 threads $2 load $(cut -d' ' -f1 /proc/loadavg)"
  build/dejavu collect --model data/models/opt-mini --text /work/shared/data/wikitext-2/valid.txt --out $out \
    --sample-every 1 --seq-len 512 --max-tokens 8192 --compression $1 --compress-threads $2 2>/dev/null | tail -1
  echo "file bytes $(stat -c %s $out)"
done
done
cmp /tmp/newuser_cc/acts_gzip_1.h5 /tmp/newuser_cc/acts_gzip_2.h5 && echo "gzip stores of 1 and 2 threads: identical bytes"
