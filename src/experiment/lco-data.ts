// The data of the LCO experiment, all from one shapes world (data/shapes-world.ts):
//
//   text-only triplets (the refinement LCO-Emb trains on: text alone)
//     anchor   caption i of a train scene s
//     positive caption j != i of s (another description of the same picture)
//     negative caption j of an edited s (a composed query's target: one
//              colour, size, shape, position or object changed), kept only
//              when it is false of s, so it is a true hard negative
//   multimodal pairs (the "+ a few image pairs" and MAMCL variants)
//     anchor   a caption of s
//     positive the image of s                         (modality 2)
//     negative the image of the edited s              (modality 2)
//   held-out sets
//     validation scenes: the caption loss of the generative checkpoints (GRSL)
//     test scenes: zero-shot image <-> text retrieval and the layer analysis
//
// Images the trainer reads go to files (PPM) under the work folder, since
// training rows name images by path, like a user's JSONL would.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { captionIsTrue, describeScene, encodePpm, renderScene, type Scene, type World, type WorldScene } from '../data/shapes-world.ts';
import type { Item, PairRow } from '../data/pairs.ts';
import { rng } from '../doctor/compare.ts';
import { shuffleInPlace } from '../model/sample.ts';

export const TEXT = 1;
export const IMAGE = 2;

export interface LcoData {
  train: WorldScene[];
  validation: WorldScene[];
  test: WorldScene[];
  /** Text-only triplets (every item a caption). */
  textTriplets: PairRow[];
  /** Caption -> image rows with an edited-image hard negative. */
  imagePairs: PairRow[];
}

export interface LcoDataOptions {
  /** Text triplets per train scene (caption pairs drawn without repeats). */
  tripletsPerScene: number;
  /** Image rows, as a fraction of the text triplets (0 = none). */
  imagePairFraction: number;
  validationScenes: number;
  testScenes: number;
  seed: number;
  /** Where the images of the image rows are written. */
  imageDir: string;
}

const row = (line: number, anchor: Item, positive: Item, negative: Item, modality: number): PairRow =>
  ({ line, anchor, positive, negatives: [negative], positiveModality: modality, negativeModalities: [modality] });

/** The edited versions of a scene (composed-query targets) whose caption `j` is false of it. */
function hardNegativeCaption(world: World, s: WorldScene, j: number): string | null {
  for (const q of world.queries) {
    if (q.sourceId !== s.id) continue;
    const caption = describeScene(q.target, 0)[j];
    if (!captionIsTrue(s, caption)) return caption;
  }
  return null;
}

/** The first edited scene that differs visibly (any composed query target of s). */
function editedScene(world: World, s: WorldScene): Scene | null {
  return world.queries.find((q) => q.sourceId === s.id)?.target ?? null;
}

export async function lcoData(world: World, o: LcoDataOptions): Promise<LcoData> {
  const train = world.scenes.filter((s) => s.split === 'train');
  const validation = world.scenes.filter((s) => s.split === 'validation').slice(0, o.validationScenes);
  const test = world.scenes.filter((s) => s.split === 'test').slice(0, o.testScenes);
  const r = rng(o.seed >>> 0);
  const textTriplets: PairRow[] = [];
  for (const s of train) {
    const pairs: [number, number][] = [];
    for (let i = 0; i < s.captions.length; i++) for (let j = 0; j < s.captions.length; j++) if (i !== j) pairs.push([i, j]);
    shuffleInPlace(pairs, r);
    let made = 0;
    for (const [i, j] of pairs) {
      if (made === o.tripletsPerScene) break;
      if (s.captions[i] === s.captions[j]) continue;
      const neg = hardNegativeCaption(world, s, j);
      if (neg === null) continue;
      textTriplets.push(row(textTriplets.length + 1, { text: s.captions[i] }, { text: s.captions[j] }, { text: neg }, TEXT));
      made++;
    }
  }
  shuffleInPlace(textTriplets, r);

  const imagePairs: PairRow[] = [];
  const wanted = Math.round(o.imagePairFraction * textTriplets.length);
  if (wanted > 0) {
    await mkdir(o.imageDir, { recursive: true });
    const size = 48;
    const write = async (scene: Scene, name: string) => {
      const path = join(o.imageDir, `${name}.ppm`);
      await writeFile(path, encodePpm(renderScene(scene, size), size, size));
      return path;
    };
    const order = shuffleInPlace(train.map((_, i) => i), r);
    for (const k of order) {
      if (imagePairs.length === wanted) break;
      const s = train[k];
      const edited = editedScene(world, s);
      if (!edited) continue;
      const caption = s.captions[Math.floor(r() * s.captions.length)];
      const image = await write(s, `scene-${s.index}`);
      const negative = await write(edited, `scene-${s.index}-edited`);
      imagePairs.push(row(textTriplets.length + imagePairs.length + 1, { text: caption }, { image }, { image: negative }, IMAGE));
    }
  }
  return { train, validation, test, textTriplets, imagePairs };
}
