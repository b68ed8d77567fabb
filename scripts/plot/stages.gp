# Stage breakdown: per scenario, the median time spent in each interval, stacked.
# Variables: scriptdir, term, output, datadir, group ('<rtt>ms-<emulator>').
load sprintf('%s/common.gp', scriptdir)

data = sprintf('%s/stages-%s.dat', datadir, group)
set title sprintf('where the time goes, dial -> first echo, %s (medians)', group)
set ylabel 'median time (ms)'
set style data histograms
set style histogram rowstacked
set style fill solid 0.85 border lc rgb '#333333'
set boxwidth 0.7
set xtics rotate by 30 right nomirror
set key outside right top
set yrange [0:*]
set bmargin 8
plot for [c=2:6] data using c:xtic(1) lt (c - 1) title columnheader(c)
