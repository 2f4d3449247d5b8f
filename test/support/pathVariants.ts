// Spellings of a path that some router, proxy or decoder may take for the
// same path: letter case, doubled and trailing slashes, dot segments,
// percent-encoding. Protected answers must need their token in every one.

const percentEncoded = (character: string) => `%${character.charCodeAt(0).toString(16)}`;

export function pathVariants(path: string): string[] {
  const segments = path.split('/').filter(Boolean);
  const join = (parts: string[]) => `/${parts.join('/')}`;
  const variants = new Set<string>([
    path.toUpperCase(),
    join(segments.map((segment) => segment[0]!.toUpperCase() + segment.slice(1))),
    `/${path}`,
    `${path}/`,
    `${path}//`,
    `${path}/.`,
    `${path}%2f`,
    `${path}%2F`,
    `${path};`,
    `${path}%20`,
    `${path}%00`,
    path.replaceAll('/', '\\'),
  ]);
  segments.forEach((segment, index) => {
    const before = segments.slice(0, index);
    const after = segments.slice(index + 1);
    variants.add(join([...before, segment.toUpperCase(), ...after]));
    variants.add(join([...before, percentEncoded(segment[0]!) + segment.slice(1), ...after]));
    variants.add(join([...before, percentEncoded(segment[0]!).toUpperCase() + segment.slice(1), ...after]));
    variants.add(join([...before, '%2e', segment, ...after]));
    variants.add(join([...before, '.', segment, ...after]));
    variants.add(join([...before, 'x', '..', segment, ...after]));
    variants.add(join([...before, 'x', '%2e%2e', segment, ...after]));
    variants.add(`${join(before)}//${segment}${after.length ? join(after) : ''}`);
    if (index > 0) variants.add(`${join(before)}%2f${segment}${after.length ? join(after) : ''}`);
  });
  variants.delete(path);
  return [...variants];
}
