// The synthetic image-caption task suite ("--tasks shapes"): zero-shot
// image -> text retrieval on held-out scenes of the shapes world
// (data/shapes-world.ts), for a multimodal model (decoder + vision encoder).
//
//   retrieval   queries = the test scenes' images (rendered in memory),
//               corpus  = all captions of those scenes (5 each),
//               relevant = the query scene's own captions (relevance 1)
//   paired      per test scene: its image and its first caption (the full
//               description), for per-layer anisotropy and mutual kNN
//
// The world is makeWorld({ seed, scenes }); its test split (10% by a hash of
// the scene id) is never seen in training, whatever the world's size, since
// the split depends on the scene alone. maxQueries keeps the first N test
// scenes (world order); without it, maxPaired does (lco analyze asks for
// paired items only), and the paired part is cut to maxPaired. Two scenes
// may share a caption (e.g. "a circle"): such a text is one document relevant
// to both.
import { DEFAULT_IMAGE_SIZE, makeWorld, renderScene, type WorldScene } from '../data/shapes-world.ts';
import type { RgbImage } from '../io/image.ts';
import { SuiteError, type EvalSuite, type SuiteOptions } from './suite.ts';

export const SHAPES_SUITE_DEFAULTS = { seed: 1, scenes: 2000, maxQueries: 200 };

/** The test scenes of a world, cut to `max`. */
export function testScenes(seed: number, scenes: number, max: number): WorldScene[] {
  return makeWorld({ seed, scenes, queriesPerScene: 0 }).scenes.filter((s) => s.split === 'test').slice(0, max);
}

/** A scene as an RGB image of DEFAULT_IMAGE_SIZE pixels (the Embedder resizes it to the encoder's size). */
export function sceneImage(scene: WorldScene, size = DEFAULT_IMAGE_SIZE): RgbImage {
  return { width: size, height: size, data: renderScene(scene, size) };
}

/** Retrieval and paired parts over the given scenes (see the header). */
export function shapesSuiteOf(scenes: readonly WorldScene[], meta: Record<string, unknown> = {}): EvalSuite {
  if (scenes.length < 2) throw new SuiteError(`shapes suite: ${scenes.length} test scene(s); retrieval needs at least 2 (ask for a larger world)`);
  const corpus: string[] = [];
  const index = new Map<string, number>();
  const qrels = scenes.map((s) => {
    const rels = new Map<number, number>();
    for (const c of s.captions) {
      let d = index.get(c);
      if (d === undefined) index.set(c, (d = corpus.push(c) - 1));
      rels.set(d, 1);
    }
    return rels;
  });
  const images = scenes.map((s) => ({ image: sceneImage(s) }));
  return {
    name: 'shapes',
    retrieval: { queries: images, corpus, qrels },
    paired: { names: ['image', 'caption'], a: images, b: scenes.map((s) => s.captions[0]) },
    meta: { ...meta, testScenes: scenes.length, documents: corpus.length, sceneIds: scenes.map((s) => s.id) },
  };
}

export async function buildShapesSuite(options: SuiteOptions = {}): Promise<EvalSuite> {
  const seed = options.seed ?? SHAPES_SUITE_DEFAULTS.seed;
  const maxQueries = options.maxQueries ?? options.maxPaired ?? SHAPES_SUITE_DEFAULTS.maxQueries;
  if (!Number.isInteger(seed) || seed < 0) throw new SuiteError(`shapes suite: seed ${seed} must be an integer >= 0`);
  if (!Number.isInteger(maxQueries) || maxQueries < 2) throw new SuiteError(`shapes suite: maxQueries ${maxQueries} must be an integer >= 2`);
  const maxPaired = options.maxPaired;
  if (maxPaired !== undefined && (!Number.isInteger(maxPaired) || maxPaired < 1)) throw new SuiteError(`shapes suite: maxPaired ${maxPaired} must be a positive integer`);
  // about 10% of scenes are test scenes: a world 12x the queries has enough
  const scenes = Math.max(SHAPES_SUITE_DEFAULTS.scenes, 12 * maxQueries);
  const suite = shapesSuiteOf(testScenes(seed, scenes, maxQueries), { seed, worldScenes: scenes, maxQueries });
  if (maxPaired !== undefined && suite.paired) {
    const { names, a, b } = suite.paired;
    suite.paired = { names, a: a.slice(0, maxPaired), b: b.slice(0, maxPaired) };
  }
  return suite;
}
