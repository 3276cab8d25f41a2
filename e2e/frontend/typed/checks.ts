// Mistakes the generated types must catch: if codegen gave up and typed
// everything as any, each @ts-expect-error below would be unused, and tsc
// fails on an unused one.
import type { Client } from '@urql/core';
import { CustomersConnection, CustomerByEmail } from './customers';

export async function mistakes(client: Client) {
  // @ts-expect-error first is an Int
  await client.query(CustomersConnection, { first: '50' });
  // @ts-expect-error email is required
  await client.query(CustomerByEmail, {});
  // @ts-expect-error no such sort
  await client.query(CustomersConnection, { sort: 'EMAIL' });

  const { data } = await client.query(CustomerByEmail, { email: 'zoe+1@monday101.com' }).toPromise();
  // @ts-expect-error customerByEmail may be null
  data?.customerByEmail.name;
  // @ts-expect-error the query did not ask for lastLogin
  data?.customerByEmail?.lastLogin;
  // @ts-expect-error status is one of the enum's values
  const status: 'ACTIVE' | 'INACTIVE' = data?.customerByEmail?.status ?? 'ACTIVE';
  return status;
}
