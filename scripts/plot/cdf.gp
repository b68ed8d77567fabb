# Latency CDF of dial -> muxer_ready, early vs classic, for one security protocol and RTT.
# Variables: scriptdir, term, output, datadir, list (file of 'cdf-<scenario>.dat label' lines), group.
load sprintf('%s/common.gp', scriptdir)

files = system(sprintf("cut -d' ' -f1 '%s'", list))
labels = system(sprintf("cut -d' ' -f2 '%s'", list))

set title sprintf('dial -> muxer ready, %s (CDF of all connections)', group)
set xlabel 'latency (ms)'
set ylabel 'fraction of connections'
set yrange [0:1.02]
set key bottom right box opaque
# Colour by negotiation (classic red, early blue), dashed for lazy multistream-select.
# (Functions, not parenthesised expressions: `dt (...)` would read as a dash pattern.)
colour(label) = strstrt(label, 'classic') > 0 ? 2 : 1
dash(label) = strstrt(label, 'lazy') > 0 ? 2 : 1
plot for [i=1:words(files)] sprintf('%s/%s', datadir, word(files, i)) using 1:2 with steps \
    lt colour(word(labels, i)) dt dash(word(labels, i)) title word(labels, i)
