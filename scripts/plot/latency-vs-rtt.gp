# Median dial -> muxer_ready against RTT per upgrade path, with the model's loopback + k x RTT lines.
# Variables: scriptdir, term, output, datadir.
load sprintf('%s/common.gp', scriptdir)

paths = system(sprintf("cat '%s/median-paths.txt'", datadir))
file(i) = sprintf('%s/median-%s.dat', datadir, word(paths, i))
k(i) = system(sprintf("awk 'END { print $4 }' '%s'", file(i)))

set title 'median dial -> muxer ready against RTT (points: measured; dashed: loopback median + k x RTT)'
set xlabel 'RTT (ms)'
set ylabel 'median latency (ms)'
set key top left box opaque
set autoscale xfix
set offsets graph 0.03, graph 0.03, graph 0.02, 0
# Filled circles for Noise, filled squares for TLS.
marker(i) = strstrt(word(paths, i), 'tls') == 1 ? 5 : 7
plot for [i=1:words(paths)] file(i) using 1:2 with linespoints lt i pt marker(i) ps 1.2 \
        title sprintf('%s (k = %s)', word(paths, i), k(i)), \
     for [i=1:words(paths)] file(i) using 1:3 with lines lt i dt 2 lw 1 notitle
