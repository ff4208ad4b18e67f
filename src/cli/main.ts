// lco: the command-line entry. One file per subcommand in src/cli/.
const USAGE = `usage: lco <command> [options]

commands:
  analyze     per-layer anisotropy and mutual kNN of paired texts (table, JSON, SVG)
  demo        the LCO-Emb pipeline in minutes: tiny decoder -> contrastive LoRA -> eval before/after
  doctor      adapter, features and limits; every kernel once against its
              float64 reference; a matmul GFLOP/s figure
  embed       embeddings of a JSONL file (last-token or mean pooling, prompts, LoRA)
  eval        retrieval, STS, clustering and probe scores (WordNet tasks; shapes: image->text)
  experiment  LCO-Emb's claims in miniature (lco experiment lco [--quick]): report with plots
  generate    continue a prompt with a model folder (streams text)
  merge       fold LoRA adapters into a base model (linear or TIES); writes a full model folder
  pretrain    next-token training: from scratch, full, or LoRA; checkpoints and resume
  serve       an HTTP server speaking OpenAI's embeddings API (dynamic batching)
  train       contrastive LoRA refinement into an embedding model (GradCache); a PEFT adapter
  help        this text
`;

const commands: Record<string, () => Promise<{ run(args: string[]): Promise<number> }>> = {
  analyze: () => import('./analyze.ts'),
  demo: () => import('./demo.ts'),
  doctor: () => import('./doctor.ts'),
  embed: () => import('./embed.ts'),
  eval: () => import('./eval.ts'),
  experiment: () => import('./experiment.ts'),
  generate: () => import('./generate.ts'),
  merge: () => import('./merge.ts'),
  pretrain: () => import('./pretrain.ts'),
  serve: () => import('./serve.ts'),
  train: () => import('./train.ts'),
};

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(USAGE);
    return name ? 0 : 1;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(`lco: unknown command "${name}"\n\n${USAGE}`);
    return 1;
  }
  return (await load()).run(args);
}

// Exit explicitly: Dawn's instance keeps Node's event loop alive otherwise.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`lco: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);

export {}; // a module: src/cli/entry.ts imports it for its side effect
