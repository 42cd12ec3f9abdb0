import { BatchOutputParser } from '../../lib/masking/engines';

/**
 * The leak check reads every original through `mariadb --batch`: a value lost or altered
 * there is a leak the check cannot see. Output bytes as the client writes them (checked
 * against mariadb 10.11: \\, \t, \n and \0 escaped, \r raw, NULL unquoted).
 */
describe('the mariadb --batch output parser gives back every original exactly, NULL apart, whatever the chunking', () => {
  const output = Buffer.concat([
    Buffer.from('=alice@example.org\t=Alice Smith\tNULL\n', 'utf8'),
    Buffer.from('=NULL\t=Zoë García\t=tab\\there \\\\ back\\nslash\\0nul\r\n', 'utf8'),
    Buffer.from('=\t=x\t=+44 (0)20 7946-0018\n', 'utf8'),
  ]);
  const expected = ['0:alice@example.org', '1:Alice Smith', '0:NULL', '1:Zoë García', '2:tab\there \\ back\nslash\0nul\r', '0:', '1:x', '2:+44 (0)20 7946-0018'];

  test('split at every byte position, the same values in the same order', () => {
    for (let cut = 0; cut <= output.length; cut++) {
      const values: string[] = [];
      const parser = new BatchOutputParser('t', 3, (column, value) => values.push(`${column}:${value}`), (column, bytes, start, end) => values.push(`${column}:${bytes.toString('latin1', start, end)}`));
      parser.push(output.subarray(0, cut));
      parser.push(output.subarray(cut));
      parser.finish();
      expect(values).toEqual(expected);
    }
  });

  test('printable ASCII values arrive as bytes, the others as text', () => {
    const ascii: string[] = [];
    const text: string[] = [];
    const parser = new BatchOutputParser('t', 3, (_c, value) => text.push(value), (_c, bytes, start, end) => ascii.push(bytes.toString('latin1', start, end)));
    parser.push(output);
    parser.finish();
    expect(text).toEqual(['Zoë García', 'tab\there \\ back\nslash\0nul\r']);
    expect(ascii).toContain('alice@example.org');
  });

  test.each([
    ['a row with fewer fields', '=a\t=b\n', /fewer than 3 fields/],
    ['a row with more fields', '=a\t=b\t=c\t=d\n', /more than 3 fields/],
    ['a value without the prefix', '=a\tb\t=c\n', /without its '=' prefix/],
  ])('fails closed on %s', (_name, text, error) => {
    const parser = new BatchOutputParser('t', 3, () => undefined);
    expect(() => parser.push(Buffer.from(text))).toThrow(error);
  });

  test('fails closed when the output ends inside a row', () => {
    const parser = new BatchOutputParser('t', 3, () => undefined);
    parser.push(Buffer.from('=a\t=b\t=c\n=a\t='));
    expect(() => parser.finish()).toThrow(/ended inside a row/);
  });
});
