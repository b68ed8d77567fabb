# Early's saving over classic at muxer_ready against RTT: network round trips (with the model and
# the check gate's +-0.05 band), the loopback-subtracted count (thin, dashed; it also carries the
# extra computation under delay), and milliseconds.
# Variables: scriptdir, term, output, datadir.
load sprintf('%s/common.gp', scriptdir)

groups = system(sprintf("cat '%s/saving-groups.txt'", datadir))
file(i) = sprintf('%s/saving-%s.dat', datadir, word(groups, i))

set multiplot layout 2, 1 title 'saving of early over classic muxer negotiation at muxer ready (first echo where another implementation dials)'
set xlabel 'RTT (ms)'
set key top left box opaque
set autoscale xfix
set offsets graph 0.05, graph 0.05, graph 0.1, graph 0.1
marker(i) = strstrt(word(groups, i), 'tls') == 1 ? 5 : 7

set ylabel 'saving (round trips)'
plot for [i=1:words(groups)] file(i) using 1:($4 - 0.05):($4 + 0.05) with filledcurves \
        lt i fs transparent solid 0.12 noborder notitle, \
     for [i=1:words(groups)] file(i) using 1:4 with lines lt i dt 2 lw 1 notitle, \
     for [i=1:words(groups)] file(i) using 1:5 with linespoints lt i dt 3 lw 1 pt marker(i) ps 0.6 notitle, \
     for [i=1:words(groups)] file(i) using 1:3 with linespoints lt i pt marker(i) ps 1.2 title word(groups, i)

set ylabel 'saving (ms)'
plot for [i=1:words(groups)] file(i) using 1:2 with linespoints lt i pt marker(i) ps 1.2 title word(groups, i)
unset multiplot
