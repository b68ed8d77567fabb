# Shared settings. Callers set: scriptdir, term ('pngcairo' or 'png'), output, datadir.
if (term eq 'pngcairo') {
    set terminal pngcairo size 1000,640 noenhanced font ',10'
} else {
    set terminal png size 1000,640 noenhanced
}
set output output
set grid lc rgb '#dddddd'
set border lc rgb '#555555'
# Colour per series, the same in every plot.
set linetype 1 lc rgb '#1f77b4' lw 2
set linetype 2 lc rgb '#d62728' lw 2
set linetype 3 lc rgb '#2ca02c' lw 2
set linetype 4 lc rgb '#ff7f0e' lw 2
set linetype 5 lc rgb '#9467bd' lw 2
set linetype 6 lc rgb '#8c564b' lw 2
set linetype 7 lc rgb '#e377c2' lw 2
set linetype 8 lc rgb '#17becf' lw 2
set linetype cycle 8
