import ts from 'typescript';
import fs from 'fs';
for (const f of ['scoring-domains', 'scoring-helpers']) {
  const src = fs.readFileSync(f + '.ts', 'utf8');
  const out = ts.transpileModule(src, {compilerOptions: {module: ts.ModuleKind.ES2020, target: ts.ScriptTarget.ES2020}});
  fs.writeFileSync(f + '.js', out.outputText);
}
fs.writeFileSync('schema.js', "export const JUDGEMENTS = {LOW: 'Low', SOME_CONCERNS: 'Some concerns', HIGH: 'High'};\n");
