// Reads combos.json [{domain, answers: {qid: value}}] and prints CSV rows scored by CoRATES.
import fs from 'fs';
import {scoreDomain1, scoreDomain2a, scoreDomain3, scoreDomain4, scoreDomain5} from './scoring-domains.js';
const fns = {D1: [scoreDomain1, 'd1_'], D2: [scoreDomain2a, 'd2a_'], D3: [scoreDomain3, 'd3_'], D4: [scoreDomain4, 'd4_'], D5: [scoreDomain5, 'd5_']};
const combos = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const lines = ['domain,answers,judgement'];
for (const c of combos) {
  const [fn, prefix] = fns[c.domain];
  const a = {};
  for (const [q, v] of Object.entries(c.answers)) a[prefix + q.split('.')[1]] = {answer: v};
  const r = fn(a);
  const text = Object.entries(c.answers).map(([q, v]) => `${q}=${v}`).join(' ');
  lines.push(`${c.domain},${text},${r.judgement ?? 'INCOMPLETE'}`);
}
fs.writeFileSync(process.argv[3], lines.join('\n') + '\n');
