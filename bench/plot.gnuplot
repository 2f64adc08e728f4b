# Full handshakes per second against concurrency, one line per implementation.
# tlsio-bench --chart runs this with: datafile, outfile, subtitle, columns, xmax (chart.cpp).
set terminal pngcairo size 960,600 enhanced font "Sans,11"
set output outfile
set title "Full TLS handshakes per second over loopback (TLS 1.2 ECDHE AES-128-GCM; tls13: TLS 1.3)\n{/*0.8 " . subtitle . "}"
set xlabel "concurrent client loops (N)"
set ylabel "handshakes / s"
set logscale x 2
set xrange [0.7:xmax * 1.4]
set yrange [0:*]
set grid
set key outside right top
set datafile missing "?"
plot for [i=2:columns] datafile using 1:i:xtic(1) title columnheader(i) \
     with linespoints linewidth 2 pointtype 7 pointsize 1.2
