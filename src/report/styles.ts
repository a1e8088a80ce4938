// The report pages' stylesheet, inlined into every page (no network at view time).

/** CSS shared by report.html and index.html. */
export const REPORT_CSS = `
:root { --pass:#2e7d32; --fail:#c62828; --error:#ad1457; --skip:#757575; --muted:#666; --line:#ddd; --bg:#fff; --code:#f5f5f5;
  --syn:#2e7d32; --data:#1565c0; --ack:#8d8d8d; --fin:#6a1b9a; --rst:#e65100; --bad:#c62828; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 0; color: #222; background: var(--bg); }
main { max-width: 1800px; margin: 0 auto; padding: 12px 20px 40px; }
h1 { font-size: 22px; margin: 6px 0 4px; }
h2 { font-size: 17px; margin: 22px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 3px; }
a { color: #1565c0; }
code, pre, .mono { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; }
pre { background: var(--code); padding: 8px 10px; border-radius: 4px; overflow-x: auto; white-space: pre-wrap; }
.muted { color: var(--muted); }
.meta { display: flex; flex-wrap: wrap; gap: 6px 16px; color: var(--muted); font-size: 13px; }
.meta b { color: #333; font-weight: 600; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff; font-weight: 600; font-size: 12px; letter-spacing: .03em; text-transform: uppercase; }
.badge.pass { background: var(--pass); } .badge.fail { background: var(--fail); } .badge.error { background: var(--error); } .badge.skip { background: var(--skip); } .badge.interrupted { background: #8d6e63; }
.banner { border-left: 6px solid; padding: 8px 12px; margin: 12px 0; background: #fafafa; }
.banner.pass { border-color: var(--pass); } .banner.fail { border-color: var(--fail); background: #fff5f5; } .banner.error { border-color: var(--error); background: #fff0f6; } .banner.skip { border-color: var(--skip); } .banner.interrupted { border-color: #8d6e63; background: #fbf7f5; } .banner.note { border-color: var(--skip); background: #fffdf5; }
.banner .what { font-weight: 600; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 4px 8px; border-bottom: 1px solid var(--line); }
th { font-size: 12px; color: var(--muted); font-weight: 600; }
tr.fail td { background: #fff5f5; } tr.skip td { color: var(--skip); }
tr.flash td { animation: flash 1.6s ease-out; }
@keyframes flash { from { background: #fff59d; } }
td.st { font-weight: 700; white-space: nowrap; } tr.pass td.st { color: var(--pass); } tr.fail td.st { color: var(--fail); }
td.num { white-space: nowrap; font-variant-numeric: tabular-nums; }
abbr.f, span.f[title] { text-decoration: underline dotted #999; cursor: help; }
.toolbar { display: flex; gap: 8px; align-items: center; margin: 6px 0; flex-wrap: wrap; }
.toolbar button { font: inherit; padding: 2px 10px; border: 1px solid #bbb; border-radius: 4px; background: #fafafa; cursor: pointer; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12px; color: #444; }
.legend i { display: inline-block; width: 18px; height: 3px; vertical-align: middle; margin-right: 4px; }
#tl-holder { position: relative; width: 100%; overflow: hidden; border: 1px solid var(--line); border-radius: 4px; user-select: none; touch-action: none; }
#tl { display: block; cursor: crosshair; }
#tl .bg { fill: #fff; }
#tl text { font: 11px "DejaVu Sans Mono", Menlo, Consolas, monospace; fill: #333; }
#tl .hidden { display: none; }
#pk-canvas { position: absolute; left: 0; top: 0; pointer-events: none; }
#tl .agg-lbl { fill: #555; font-weight: 700; }
#tl .grid { stroke: #eee; stroke-width: 1; }
#tl .tick { text-anchor: middle; fill: #777; font-size: 10.5px; }
#tl .gutter text { font: 12px system-ui, "DejaVu Sans", sans-serif; fill: #333; }
#tl .gut-h { font-weight: 700 !important; fill: #555 !important; }
#tl .lane-name { font-weight: 700 !important; font-size: 14px !important; }
#tl .track-name { font-weight: 600 !important; }
#tl .chart-name { fill: #555 !important; text-decoration: underline dotted #aaa; }
#tl .chart-max { text-anchor: end; font-size: 10px !important; fill: #999 !important; }
#tl .lane { stroke: #444; stroke-width: 2; }
#tl .base { stroke: #eee; }
#tl .guide line { stroke: #90a4ae; stroke-dasharray: 3 4; stroke-width: 1; }
#tl .step path { fill: #546e7a; } #tl .step.warn path { fill: #e65100; }
#tl .step-lbl { fill: #37474f; } #tl .step-lbl.warn { fill: #bf360c; }
#tl .exp circle { stroke: #fff; stroke-width: 1.5; cursor: pointer; }
#tl .exp.pass circle { fill: var(--pass); } #tl .exp.fail circle { fill: var(--fail); }
#tl .exp.sel circle { stroke: #000; stroke-width: 3; }
#tl .exp-n { fill: #fff !important; text-anchor: middle; font-weight: 700; font-size: 10px; pointer-events: none; }
#tl .ev .sym { fill: #78909c; stroke: #455a64; stroke-width: 1; }
#tl .ev.ok .sym { fill: var(--pass); stroke: var(--pass); }
#tl .ev.warn .sym { fill: #fb8c00; stroke: #e65100; }
#tl .ev.error .sym { stroke: var(--bad); stroke-width: 3; fill: none; }
#tl .ev-lbl.error { fill: var(--bad); font-weight: 700; } #tl .ev-lbl.ok { fill: var(--pass); } #tl .ev-lbl.warn { fill: #bf360c; }
#tl .pk line { stroke-width: 1.6; }
#tl .pk.syn line { stroke: var(--syn); } #tl .pk.data line { stroke: var(--data); } #tl .pk.ack line { stroke: var(--ack); }
#tl .pk.fin line { stroke: var(--fin); } #tl .pk.rst line { stroke: var(--rst); }
#tl .pk.retx line { stroke-dasharray: 6 3; stroke-width: 2; }
#tl .pk.lost line, #tl .pk.dropped line { stroke: var(--bad); stroke-width: 2.2; }
#tl .pk.unseen line, #tl .pk.only-in line { stroke-dasharray: 2 3; }
#tl .ah path { stroke: none; } #tl .ah.syn path { fill: var(--syn); } #tl .ah.data path { fill: var(--data); } #tl .ah.ack path { fill: var(--ack); }
#tl .ah.fin path { fill: var(--fin); } #tl .ah.rst path { fill: var(--rst); } #tl .ah.bad path { fill: var(--bad); }
#tl .pk-lbl.syn { fill: var(--syn); } #tl .pk-lbl.data { fill: var(--data); } #tl .pk-lbl.ack { fill: #777; } #tl .pk-lbl.fin { fill: var(--fin); } #tl .pk-lbl.rst { fill: var(--rst); }
#tl .pk-lbl.bad { fill: var(--bad); font-weight: 700; }
#tl .cross path { stroke: var(--bad); stroke-width: 3; }
#tl .rule { fill: #eceff1; stroke: #b0bec5; } #tl .rule.drop { fill: #ffebee; stroke: #ef9a9a; }
#tl .band-lbl { font-size: 10.5px; fill: #333; pointer-events: none; }
#tl .state { stroke: #fff; stroke-width: 0.5; fill: #e0e0e0; }
#tl .st-listen { fill: #cfd8dc; } #tl .st-syn-sent { fill: #ffe082; } #tl .st-syn-recv { fill: #ffcc80; } #tl .st-estab { fill: #a5d6a7; }
#tl .st-fin-wait-1 { fill: #90caf9; } #tl .st-fin-wait-2 { fill: #64b5f6; } #tl .st-close-wait { fill: #ef9a9a; } #tl .st-last-ack { fill: #ce93d8; }
#tl .st-closing { fill: #b39ddb; } #tl .st-time-wait { fill: #bcaaa4; }
#tl .timer { fill: #f5f5f5; stroke: none; } #tl .tm-on { fill: #ffccbc; } #tl .tm-keepalive { fill: #b2ebf2; } #tl .tm-persist { fill: #fff9c4; } #tl .tm-timewait { fill: #d7ccc8; }
#tl .countdown { fill: none; stroke: #5d4037; stroke-width: 1.2; }
#tl .retx-n text { font-size: 10px; fill: #bf360c; font-weight: 700; }
#tl .series { fill: none; stroke: #1565c0; stroke-width: 1.5; }
#tl .s-recvQ { stroke: #00838f; } #tl .s-sendQ { stroke: #6a1b9a; } #tl .s-rto, #tl .s-retrans, #tl .s-backoff { stroke: #d84315; } #tl .s-skmem-d { stroke: var(--bad); }
#tl #cursor line { stroke: #d50000; stroke-width: 1.2; }
#readout { color: var(--muted); font-size: 12px; }
#inspector { margin-top: 8px; }
#inspector .sock { border: 1px solid var(--line); border-radius: 4px; padding: 4px 8px; margin-bottom: 6px; }
#inspector .sock-h { font-weight: 600; }
#inspector .fields { font: 12px "DejaVu Sans Mono", Menlo, monospace; line-height: 1.7; }
#inspector .f { margin-right: 10px; white-space: nowrap; } #inspector .f b { font-weight: 600; color: #37474f; }
dl.gloss { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; font-size: 13px; }
dl.gloss dt { font-family: "DejaVu Sans Mono", monospace; font-weight: 600; } dl.gloss dd { margin: 0; }
#log pre { max-height: 480px; overflow: auto; white-space: pre; }
#log .ss { display: none; } #log.with-ss .ss { display: inline; }
details > summary { cursor: pointer; color: #37474f; }
.cols { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 12px 24px; }
`
