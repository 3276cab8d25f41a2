// GraphQL Code Generator's client preset: typed documents from the SDL the
// gateway prints (gateway -print-schema > schema.graphql) and the graphql()
// calls in this folder.
import type { CodegenConfig } from '@graphql-codegen/cli';

const config: CodegenConfig = {
  schema: 'schema.graphql',
  documents: ['*.ts', '!codegen.ts'],
  generates: {
    'gql/': {
      preset: 'client',
      config: { enumsAsTypes: true, useTypeImports: true, scalars: { DateTime: 'string' } },
    },
  },
};
export default config;
