// The package-lock.json of a fresh project that installs the packed tarball,
// cut out of the repository's own lock, so that `npm ci --offline` installs it
// from what the repository's `npm ci` has just put in npm's cache.
//
// Why a lockfile: `npm install <spec>` resolves every dependency range through
// the registry's metadata (packuments), and an empty cache filled by `npm ci`
// does not hold every packument such an install asks for (ENOTCACHED for
// bun-webgpu on a fresh machine). `npm ci` from a lock needs only each entry's
// name, version and integrity, and npm's cache holds those tarballs by their
// integrity. It also installs exactly the versions the repository tested with.
//
// The closure: lco-webgpu's dependencies, optional dependencies and required
// peers, plus the named extras, resolved the way Node resolves packages (the
// nearest node_modules up the path), every reached entry copied as it is in
// the repository's lock, without the dev flags (nothing is a dev dependency
// of the consumer). Platform packages stay `optional`, so `npm ci` skips the
// ones for other platforms.

type LockEntry = Record<string, unknown> & {
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
};

export interface Lockfile {
  name?: string;
  lockfileVersion: number;
  requires?: boolean;
  packages: Record<string, LockEntry>;
}

export interface TarballPackage {
  /** The repository's package.json. */
  manifest: LockEntry & { name: string; version: string };
  /** Where the consumer's package.json points: `file:../x.tgz`. */
  spec: string;
  /** sha512 integrity of the tarball, as `npm pack --json` reports it. */
  integrity: string;
}

/** Names a package depends on that must be installed with it. */
function wanted(entry: LockEntry): string[] {
  const peers = Object.keys(entry.peerDependencies ?? {}).filter((p) => !entry.peerDependenciesMeta?.[p]?.optional);
  return [...Object.keys(entry.dependencies ?? {}), ...Object.keys(entry.optionalDependencies ?? {}), ...peers];
}

/** The lock path `name` resolves to from the package at `from` ('' for the root), or null. */
function resolve(packages: Lockfile['packages'], from: string, name: string): string | null {
  let dir = from;
  for (;;) {
    const candidate = `${dir === '' ? '' : `${dir}/`}node_modules/${name}`;
    if (packages[candidate]) return candidate;
    if (dir === '') return null;
    const cut = dir.lastIndexOf('/node_modules/');
    dir = cut < 0 ? '' : dir.slice(0, cut);
  }
}

/**
 * The consumer's package.json dependencies and its lockfile: the tarball and
 * `extras` (name -> version spec, each in the repository's lock).
 */
export function consumerLockfile(repoLock: Lockfile, name: string, tarball: TarballPackage, extras: Record<string, string>):
  { dependencies: Record<string, string>; lock: Lockfile } {
  const repo = repoLock.packages;
  const dependencies = { [tarball.manifest.name]: tarball.spec, ...extras };
  const own = `node_modules/${tarball.manifest.name}`;
  const pick = ({ version, license, dependencies: d, optionalDependencies, peerDependencies, peerDependenciesMeta, bin, engines }: LockEntry) =>
    Object.fromEntries(Object.entries({ version, license, dependencies: d, optionalDependencies, peerDependencies, peerDependenciesMeta, bin, engines })
      .filter(([, v]) => v !== undefined));
  const packages: Lockfile['packages'] = {
    '': { name, dependencies },
    [own]: { ...pick(tarball.manifest), resolved: tarball.spec, integrity: tarball.integrity },
  };
  const queue: [string, string][] = [...wanted(tarball.manifest).map((d): [string, string] => [own, d]), ...Object.keys(extras).map((d): [string, string] => ['', d])];
  while (queue.length > 0) {
    const [from, dep] = queue.shift()!;
    const at = resolve(repo, from, dep);
    if (at === null) {
      // An optional dependency the repository's platform never locked is fine; anything else is a broken lock.
      const parent = from === own ? tarball.manifest : from === '' ? { optionalDependencies: {} } : repo[from];
      if (parent.optionalDependencies?.[dep] !== undefined) continue;
      throw new Error(`consumerLockfile: ${dep} (needed by ${from || name}) is not in the repository's package-lock.json`);
    }
    if (packages[at]) continue;
    const { dev: _dev, devOptional, peer: _peer, ...entry } = repo[at] as LockEntry & { dev?: boolean; devOptional?: boolean; peer?: boolean };
    packages[at] = devOptional ? { ...entry, optional: true } : entry;
    for (const d of wanted(repo[at])) queue.push([at, d]);
  }
  for (const [extra, spec] of Object.entries(extras)) {
    const locked = packages[`node_modules/${extra}`]?.version;
    if (locked !== spec) throw new Error(`consumerLockfile: ${extra}@${spec} asked for, the repository's lock has ${locked ?? 'none'}`);
  }
  return { dependencies, lock: { name, lockfileVersion: repoLock.lockfileVersion, requires: true, packages } };
}
